#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages linkrelay (linkrelay, linkctl) and linkagent
# (docs/design.md D19) with dpkg-buildpackage from a clean copy of the tree:
# the files git tracks plus new ones it does not ignore, as they are in the
# work tree, never build directories. Nothing is written into the tree but
# the output directory (default build-deb/, which git ignores).
#
# Usage: scripts/package.sh [-o DIR]
# Needs: scripts/deps.sh build, and debhelper (in scripts/deps.sh test).
# Environment: LR_JOBS (default: nproc) parallel compile jobs; TMPDIR, where
# the copy is built (removed at exit).
# Prints the paths of the .deb files it wrote, one a line.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/build-deb

usage() {
    echo "usage: $0 [-o OUTPUT_DIR]" >&2
    exit 2
}
while getopts "o:h" opt; do
    case $opt in
    o) out=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

for tool in dpkg-buildpackage dpkg-parsechangelog dh; do
    if ! command -v "$tool" >/dev/null; then
        echo "package.sh: $tool is missing (scripts/deps.sh test installs it)" >&2
        exit 1
    fi
done

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
work=$(mktemp -d) # under $TMPDIR when set
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
tree=$work/linkrelay-$version
mkdir "$tree"

# The clean tree. From git: what `git add -A` would commit; a file deleted in
# the work tree but still tracked is left out. Without git (a release
# tarball): everything but build directories.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
        while IFS= read -r -d '' f; do
            if [ -e "$src/$f" ] || [ -L "$src/$f" ]; then
                printf '%s\0' "$f"
            fi
        done | (cd "$src" && xargs -0 -r cp -P --parents -t "$tree")
else
    tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi

echo "package.sh: building linkrelay $version in $tree" >&2
if ! (cd "$tree" && dpkg-buildpackage -b --no-sign -j"${LR_JOBS:-$(nproc)}") \
    >"$work/build.log" 2>&1; then
    tail -n 80 "$work/build.log" >&2
    echo "package.sh: dpkg-buildpackage failed (the last 80 lines above)" >&2
    exit 1
fi

mkdir -p "$out"
shopt -s nullglob
built=("$work"/*.deb)
[ ${#built[@]} -gt 0 ] || { echo "package.sh: no .deb was built" >&2; exit 1; }
mv -f "${built[@]}" "$work"/*.buildinfo "$work"/*.changes "$out"/
for f in "${built[@]}"; do
    echo "$out/$(basename "$f")"
done
