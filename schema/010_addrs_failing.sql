-- SPDX-License-Identifier: MIT
-- 010_addrs_failing: which advertised addresses of a pool member fail its
-- self-check (docs/design.md D34, D35). Written by the member's heartbeat
-- beside addrs_ok (unchanged: 0 only when every address failed): the
-- addresses whose last check failed, each as "host:port=reason" (reason:
-- refused, timeout, wrong_key, other_member, error), separated by single
-- spaces; '' when none failed, none was checked yet or checks are off.
-- `linkctl pool` shows them per member.
ALTER TABLE members ADD COLUMN addrs_failing TEXT NOT NULL DEFAULT ''
    CHECK (length(addrs_failing) <= 4608);
