#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# relay/'s arrows run one way (STYLE.md "Layout and modules"): lists every
# file -> file call edge among relay/*.c (file A calls B when A names a
# function or object that B's header B.h declares with B's prefix, comments
# left out) and fails if the graph has a circle (tsort finds a loop), or if
# a module below relay.c names a relay_ function.
set -euo pipefail
src=${LR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src/relay"
if ! command -v tsort >/dev/null || ! command -v cc >/dev/null; then
    echo "SKIP: needs tsort and cc"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Source without comments (the preprocessor's -fpreprocessed keeps the
# directives and expands nothing).
strip() { cc -fpreprocessed -dD -E -P -x c "$1" 2>/dev/null | grep -v '^[[:space:]]*#' || true; }

# What each header exports: prefix_name( declarations and extern objects.
for h in *.h; do
    m=${h%.h}
    strip "$h" | tr '\n' ' ' |
        grep -oE "(\b${m}_[a-z0-9_]*[[:space:]]*\(|extern[^;]*\b${m}_[a-z0-9_]*[[:space:]]*;)" |
        grep -oE "\b${m}_[a-z0-9_]*" | sort -u >"$tmp/$m.names" || true
done

# name -> module of every exported name; then one pass over each source.
for names in "$tmp"/*.names; do
    b=$(basename "$names" .names)
    [ -f "$b.c" ] && sed "s/\$/ $b/" "$names"
done >"$tmp/exports"
edges=$tmp/edges
: >"$edges"
for c in *.c; do
    a=${c%.c}
    strip "$c" | awk -v self="$a" -v out="$edges" '
        NR == FNR { owner[$1] = $2; next }
        {
            line = $0
            # A name, not a struct member of the same spelling (s->ticket_live).
            while (match(line, /[A-Za-z_][A-Za-z0-9_]*/)) {
                w = substr(line, RSTART, RLENGTH)
                prev = RSTART > 1 ? substr(line, RSTART - 1, 1) : ""
                line = substr(line, RSTART + RLENGTH)
                if (prev == "." || prev == ">" || !(w in owner) || owner[w] == self)
                    continue
                used[owner[w]] = used[owner[w]] " " w
            }
        }
        END {
            for (m in used) {
                print self ".c " m ".c" >> out
                n = split(used[m], ws, " ")
                list = ""
                for (i = 1; i <= n; i++)
                    if (!(ws[i] in done) || done[ws[i]] != m) {
                        done[ws[i]] = m
                        list = list " " ws[i]
                    }
                print self ".c -> " m ".c:" list
            }
        }' "$tmp/exports" -
done | sort

fail=0
if ! tsort "$edges" >/dev/null 2>"$tmp/tsort.err"; then
    echo "FAIL relay/ has a circle of calls:"
    cat "$tmp/tsort.err"
    fail=1
fi
# relay.c is the top: only main.c may call it.
if grep -v '^main\.c ' "$edges" | grep -q ' relay\.c$'; then
    echo "FAIL a module below relay.c calls it:"
    grep -v '^main\.c ' "$edges" | grep ' relay\.c$'
    fail=1
fi
[ "$fail" = 0 ] && echo "ok: $(wc -l <"$edges") edges, no circle"
exit "$fail"
