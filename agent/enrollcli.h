/* SPDX-License-Identifier: MIT */
/*
 * enrollcli — `linkagent enroll --config FILE --link NAME CODE` (design.md
 * D30): makes the link's key pair, writes the private key to the link's
 * key_file (mode 0600, created, never overwritten) and presents the code to
 * the relay once over a control session (AUTH flags bit 3); on WELCOME it
 * sends the anchor's endorsement of the new key (KEY_ENDORSE) and waits for
 * the relay to have read it (PING/PONG). The key file appears only when the
 * relay accepted the code; a refusal is printed with its reason and leaves
 * nothing behind. Afterwards `linkagent --config FILE` runs the link as any
 * link with a key file.
 */
#ifndef LR_AGENT_ENROLLCLI_H
#define LR_AGENT_ENROLLCLI_H

/* argv[0] is "enroll". Exit code: 0 enrolled, 1 failed or refused, 2 usage. */
int enrollcli_main(int argc, char **argv);

#endif
