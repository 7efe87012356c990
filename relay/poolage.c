/* SPDX-License-Identifier: MIT */
#include "poolage.h"

int64_t poolage_age(int64_t beat_ms, int64_t now_ms, const struct poolage_gap *gap)
{
    int64_t from, to;

    if (gap->from == 0)
        return now_ms - beat_ms;
    from = gap->from > beat_ms ? gap->from : beat_ms;
    to = gap->to == 0 || gap->to > now_ms ? now_ms : gap->to;
    return now_ms - beat_ms - (to > from ? to - from : 0);
}
