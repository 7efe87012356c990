/* SPDX-License-Identifier: MIT */
#include "history.h"

#include "lrjson.h"

bool history_tick(struct history *h, uint64_t now_ms, const struct history_sample *x)
{
    if (h->n > 0 && now_ms < h->next_ms)
        return false;
    h->s[h->head] = *x;
    h->head = (h->head + 1) % HISTORY_LEN;
    if (h->n < HISTORY_LEN)
        h->n++;
    h->next_ms = now_ms + HISTORY_EVERY_MS;
    return true;
}

/* One column of the ring, oldest first. */
static json_t *history_column(const struct history *h, int which)
{
    json_t *a = json_array();
    size_t first = (h->head + HISTORY_LEN - h->n) % HISTORY_LEN;

    for (size_t i = 0; a != NULL && i < h->n; i++) {
        const struct history_sample *s = &h->s[(first + i) % HISTORY_LEN];
        uint64_t v = which == 0   ? (uint64_t)s->t_ms
                     : which == 1 ? s->bytes[0]
                     : which == 2 ? s->bytes[1]
                     : which == 3 ? s->streams_open
                     : which == 4 ? s->streams_total
                                  : s->agents;
        if (json_array_append_new(a, json_integer(lrjson_u64(v))) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

json_t *history_json(const struct history *h)
{
    return json_pack("{s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "every_s", HISTORY_EVERY_MS / 1000,
                     "max", HISTORY_LEN, "t_ms", history_column(h, 0), "bytes_a_to_b",
                     history_column(h, 1), "bytes_b_to_a", history_column(h, 2), "streams_open",
                     history_column(h, 3), "streams_total", history_column(h, 4), "agents",
                     history_column(h, 5));
}
