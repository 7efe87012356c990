#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The committed seed corpora of fuzz_token and fuzz_config are exactly what
# tests/tools/gen_fuzz_corpus.c writes (so they can be regenerated and stay
# valid as the formats evolve). Env: LR_BUILD_DIR, LR_SOURCE_DIR.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$LR_BUILD_DIR/tests/gen_fuzz_corpus" "$work"
for d in token config; do
    if ! diff -r "$work/$d" "$LR_SOURCE_DIR/tests/fuzz/corpus/$d"; then
        echo "tests/fuzz/corpus/$d differs from gen_fuzz_corpus output;" \
             "regenerate with: $LR_BUILD_DIR/tests/gen_fuzz_corpus tests/fuzz/corpus" >&2
        exit 1
    fi
done
echo "fuzz corpora match the generator"
