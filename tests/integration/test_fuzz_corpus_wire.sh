#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks that the committed seed corpora of fuzz_msg and fuzz_frame are what
# tests/tools/gen_corpus_wire.c generates (regenerate with
# `gen_corpus_wire tests/fuzz/corpus` after changing it or the wire format).
set -euo pipefail
: "${LR_BUILD_DIR:?}" "${LR_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/msg" "$work/frame"
"$LR_BUILD_DIR/tests/gen_corpus_wire" "$work"
for d in msg frame; do
    diff -r "$work/$d" "$LR_SOURCE_DIR/tests/fuzz/corpus/$d"
done
echo "corpus up to date"
