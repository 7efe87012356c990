#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The bash completions of dist/completion/ complete what the programs take:
# every option each program's --help names (so the two cannot drift apart),
# linkctl's commands and link subcommands, the values of --log-level,
# --policy and --side, and link names read from the registry of the
# --state-dir on the line. Env: LR_BUILD_DIR, LR_SOURCE_DIR.
set -euo pipefail
: "${LR_BUILD_DIR:?}" "${LR_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$LR_BUILD_DIR/linkctl:$LR_BUILD_DIR/relay:$LR_BUILD_DIR/agent:$PATH"
for f in linkctl linkrelay linkagent; do
    # shellcheck source=/dev/null
    source "$LR_SOURCE_DIR/dist/completion/$f"
done
fail=0

# comp FUNCTION WORD... : the completions of the last WORD, sorted, one line.
comp() {
    local fn=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    "$fn"
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() {
    local what=$1 got=$2 want=$3
    if [ "$got" = "$want" ]; then
        echo "ok   $what"
    else
        echo "FAIL $what: got '$got', want '$want'"
        fail=1
    fi
}
# Every --option of a help text is among the completions of "--".
covers() {
    local what=$1 help=$2 got=$3 missing=""
    for o in $(printf '%s\n' "$help" | grep -oE '(^|[ [])--[a-z][a-z-]*' | tr -d ' [' | sort -u); do
        case " $got " in *" $o "*) ;; *) missing="$missing $o" ;; esac
    done
    if [ -z "$missing" ]; then
        echo "ok   $what: every option of --help"
    else
        echo "FAIL $what: --help options not completed:$missing"
        fail=1
    fi
}

covers "linkrelay" "$(linkrelay --help)" "$(comp _linkrelay linkrelay --)"
covers "linkagent" "$(linkagent --help)" \
    "$(comp _linkagent linkagent --) $(comp _linkagent linkagent keygen --) $(comp _linkagent linkagent status --) $(comp _linkagent linkagent enroll --)"
covers "linkctl global" "$(linkctl --help | sed -n '/^global options/,/^$/p;/^options/,/^$/p')" \
    "$(comp _linkctl linkctl --)"
covers "linkctl link add" "$(linkctl link add --help)" "$(comp _linkctl linkctl link add --)"
covers "linkctl link rotate" "$(linkctl link rotate --help)" "$(comp _linkctl linkctl link rotate --)"
covers "linkctl link set" "$(linkctl link set --help)" "$(comp _linkctl linkctl link set --)"
covers "linkctl events" "$(linkctl events --help)" "$(comp _linkctl linkctl events --)"
covers "linkctl probe" "$(linkctl probe --help)" "$(comp _linkctl linkctl probe --)"
covers "linkctl pool" "$(linkctl pool --help)" "$(comp _linkctl linkctl pool --)"
expect "linkctl pool subcommands" "$(comp _linkctl linkctl pool '')" "--help --json forget"
covers "linkagent status" "$(linkagent status --help)" "$(comp _linkagent linkagent status --)"
covers "linkctl relay rotate-key" "$(linkctl relay rotate-key --help)" \
    "$(comp _linkctl linkctl relay rotate-key --)"
covers "linkctl relay drain" "$(linkctl relay drain --help)" "$(comp _linkctl linkctl relay drain --)"
expect "linkctl relay subcommands" "$(comp _linkctl linkctl relay '')" "--help drain info rotate-key"

expect "linkctl commands" "$(comp _linkctl linkctl '')" "events link pool probe relay status"
expect "linkctl link subcommands" "$(comp _linkctl linkctl --json link '')" \
    "--help --json add days enable list revoke rm rotate set show"
for c in add list show revoke enable rm rotate set; do
    linkctl link --help | grep -qE "^  $c( |$)" || { echo "FAIL link --help lacks $c"; fail=1; }
done
expect "linkctl relay drain --timeout takes a value" "$(comp _linkctl linkctl relay drain --timeout '')" ""
expect "linkrelay --log-level" "$(comp _linkrelay linkrelay --log-level '')" "debug error info warn"
expect "linkagent --policy" "$(comp _linkagent linkagent --policy '')" "immediate on-demand"
expect "linkagent keygen" "$(comp _linkagent linkagent k)" "keygen"
expect "linkagent status" "$(comp _linkagent linkagent s)" "status"
expect "linkagent enroll" "$(comp _linkagent linkagent e)" "enroll"
covers "linkagent enroll" "$(linkagent enroll --help)" "$(comp _linkagent linkagent enroll --)"
expect "linkctl --enroll" "$(comp _linkctl linkctl link add x --enroll '')" "a b"
expect "linkctl --side" "$(comp _linkctl linkctl link rotate x --side '')" "a b"

# Link names from the registry of the --state-dir on the line.
state="$work/state"
linkctl --state-dir "$state" --relay-addr 127.0.0.1:7700 link add plc1 >/dev/null
linkctl --state-dir "$state" --relay-addr 127.0.0.1:7700 link add web2 >/dev/null
expect "link show: names" "$(comp _linkctl linkctl --state-dir "$state" link show '')" "plc1 web2"
expect "link rm: names by prefix" "$(comp _linkctl linkctl --state-dir "$state" link rm p)" "plc1"
expect "probe: names" "$(comp _linkctl linkctl --state-dir "$state" probe '')" "plc1 web2"
expect "events --link: names" "$(comp _linkctl linkctl --state-dir "$state" events --link w)" "web2"
expect "no registry: no names" "$(comp _linkctl linkctl --state-dir "$work/none" link show '')" ""
[ ! -e "$work/none" ] || { echo "FAIL completing created $work/none"; fail=1; }

exit $fail
