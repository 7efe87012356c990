/* SPDX-License-Identifier: MIT */
/*
 * statuscli — `linkagent status [--json] [--admin-socket PATH]`: asks the
 * agents running on this host over their admin sockets (agent/status.c,
 * found in the runtime directory, rundir.h) and prints what each says.
 * A short-lived command; nothing here runs inside an agent.
 */
#ifndef LR_STATUSCLI_H
#define LR_STATUSCLI_H

/* Exit codes (docs/linkagent.md "EXIT STATUS"). */
enum statuscli_exit {
    STATUSCLI_ALL_UP = 0,   /* every link of every agent has its session up */
    STATUSCLI_NOT_UP = 1,   /* an agent answered, and a link is not up */
    STATUSCLI_USAGE = 2,    /* bad command line */
    STATUSCLI_NO_AGENT = 3, /* no agent answered (none running, or an error) */
};

/* argv[0] is "status". Returns an enum statuscli_exit. */
int statuscli_main(int argc, char **argv);

#endif
