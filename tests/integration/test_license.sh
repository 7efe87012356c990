#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The licence: LICENSE is the MIT text, and every source, build, script,
# schema, unit, man page, dist/ config, status page (httpd/page/) and debian/
# packaging file git tracks opens with an SPDX line (in its first two lines,
# after a #! line), so a packager can tell each file's terms. debian/changelog, debian/copyright
# (which states the terms itself) and debian/source/format take no comments.
set -euo pipefail
src=${LR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src"
fail=0
if ! grep -q '^MIT License$' LICENSE 2>/dev/null; then
    echo "FAIL LICENSE is missing or is not the MIT licence"
    fail=1
fi
if ! command -v git >/dev/null || ! git rev-parse --git-dir >/dev/null 2>&1; then
    echo "SKIP: not a git checkout, cannot list the tracked files"
    exit 77
fi
n=0
while IFS= read -r f; do
    case "$f" in
    tests/fuzz/corpus/*) continue ;;
    *.c | *.h | *.py | *.sh | *.cmake | CMakeLists.txt | */CMakeLists.txt | .ci/run | \
        *.service | *.sql | *.[58] | dist/*.conf | dist/*.d/*.conf | debian/control | \
        debian/rules | debian/*.install | debian/*.postrm | httpd/page/*) ;;
    *) continue ;;
    esac
    n=$((n + 1))
    if ! head -n 2 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
        echo "FAIL $f has no 'SPDX-License-Identifier: MIT' line at its top"
        fail=1
    fi
done < <(git ls-files)
[ "$n" -gt 50 ] || { echo "FAIL only $n files checked: is the listing right?"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok   LICENSE is MIT; $n files carry the SPDX line"
exit "$fail"
