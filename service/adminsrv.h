/* SPDX-License-Identifier: MIT */
/*
 * adminsrv — the server side of an admin Unix socket, as the relay
 * (relay/admin.c) and the agent (agent/status.c) both serve one: one request
 * line (at most ADMINSRV_MAX_REQUEST bytes with its newline), one line of
 * compact JSON back (lrjson.h), then close. The client is service/adminc.c.
 *
 * Bounded: at most ADMINSRV_MAX_CLIENTS connections at once (more are closed
 * at accept), ADMINSRV_TIMEOUT_MS per connection, a request longer than
 * ADMINSRV_MAX_REQUEST gets {"error":"request too long"}. The socket is born
 * with the mode given (umask around bind) and removed on stop; a stale socket
 * file (nobody accepts on it) is replaced at start, a live one is refused.
 *
 * Ownership: the owner starts and stops the server; the owner's request
 * callback answers each request (adminsrv_reply_json) now or later (after
 * adminsrv_hold; then adminsrv_release once done). Nothing here touches
 * anything of the owner but through struct adminsrv_ops. Runs on the
 * owner's libuv loop; nothing blocks but the start-up check of a stale file.
 */
#ifndef LR_ADMINSRV_H
#define LR_ADMINSRV_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#define ADMINSRV_MAX_REQUEST 1024
#define ADMINSRV_MAX_CLIENTS 32
#define ADMINSRV_TIMEOUT_MS  5000
#define ADMINSRV_PATH_MAX    108 /* sizeof(sockaddr_un.sun_path) on Linux */

struct adminsrv;
struct adminsrv_client;

struct adminsrv_ops {
    /* One request line (without newline, NUL-terminated, at most
     * ADMINSRV_MAX_REQUEST - 1 bytes). Answer with adminsrv_reply_json or
     * adminsrv_error; a client never answered is closed at its timeout.
     * After adminsrv_more, the client's next line comes here too, or NULL
     * when it closed or its time ran out first (it is closing then). */
    void (*request)(void *arg, struct adminsrv_client *cl, const char *line);
};

/* Binds path with mode on loop and listens. who names the program in the
 * error logged when another one answers on path ("linkrelay"). 0 or -errno
 * (-EADDRINUSE: a live socket is there; -ENAMETOOLONG). */
int adminsrv_start(uv_loop_t *loop, const char *path, unsigned mode, const char *who,
                   const struct adminsrv_ops *ops, void *arg, struct adminsrv **out);
/* As adminsrv_start, but a socket someone still answers on at path is
 * replaced too: a successor takes over from the running relay (D25). */
int adminsrv_start_over(uv_loop_t *loop, const char *path, unsigned mode, const char *who,
                        const struct adminsrv_ops *ops, void *arg, struct adminsrv **out);
/* Closes the server and every client, removes the socket file; frees once
 * every handle is closed. Accepts NULL; idempotent. */
void adminsrv_stop(struct adminsrv *s);
/* Lets go of the path for a successor (D25): closes the server now (libuv
 * removes its file as it does), answers the clients already connected, and
 * adminsrv_stop leaves the path alone. */
void adminsrv_let_go(struct adminsrv *s);

/* The relay's takeover (D25): the client's socket (for ancillary data; -1
 * once closing), keeping it open for one more line within timeout_ms
 * (ops->request gets it, or NULL), and closing it without an answer. */
int adminsrv_fd(struct adminsrv_client *cl);
void adminsrv_more(struct adminsrv_client *cl, uint32_t timeout_ms);
void adminsrv_close(struct adminsrv_client *cl);

/* Sends v (compact JSON) and a newline, then closes; takes v. NULL (out of
 * memory while building it) closes without a reply. A second answer, or one
 * to a closed client, is dropped. */
void adminsrv_reply_json(struct adminsrv_client *cl, json_t *v);
/* Replies {"error":why}. */
void adminsrv_error(struct adminsrv_client *cl, const char *why);
/* Keeps cl's memory valid across an asynchronous answer (it may still be
 * closed: a reply is then dropped); adminsrv_release ends that. */
void adminsrv_hold(struct adminsrv_client *cl);
void adminsrv_release(struct adminsrv_client *cl);

#endif
