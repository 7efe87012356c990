#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real PostgreSQL server for the registry's tests (docs/design.md D33).
#   tests/pgfix.sh start LINK   initdb a cluster in a new temporary directory
#                               (/tmp/lr-pg.XXXXXX), start it listening only on
#                               a Unix socket in that directory, and point the
#                               symlink LINK at it. Connect with
#                               "host=LINK port=5432 user=lrtest dbname=postgres".
#   tests/pgfix.sh stop LINK    stop that server and remove the directory and LINK.
# ctest runs start and stop as the FIXTURES_SETUP/CLEANUP pair "pg" (cleanup
# runs also when tests fail); start removes a server LINK still points at
# (a run that was killed) first, and cleans up after itself when it fails.
# PostgreSQL refuses to run as root: as root the server runs as "nobody";
# as any other user, as that user. The directory is 0700 and the server has
# no TCP listener, so trust authentication reaches only its owner and root.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop LINK" >&2
    exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
link=$2

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
    echo "pgfix: no PostgreSQL server in /usr/lib/postgresql/*/bin (scripts/deps.sh test)" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

stop() {
    local dir
    [ -L "$link" ] || return 0
    dir=$(readlink "$link")
    case "$dir" in
    /tmp/lr-pg.*) ;;
    *)
        echo "pgfix: $link points at $dir, not a pgfix directory; left alone" >&2
        return 1
        ;;
    esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
            as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null || true
    fi
    rm -rf "$dir"
    rm -f "$link"
}

start() {
    local dir t0 t1
    t0=$(date +%s%N)
    stop
    dir=$(mktemp -d /tmp/lr-pg.XXXXXX)
    # From here on a failure stops what was started and removes everything.
    trap 'rc=$?; [ $rc -eq 0 ] || { [ -L "$link" ] || ln -sfn "$dir" "$link"; stop || true; }; exit $rc' EXIT
    ln -sfn "$dir" "$link"
    if [ "$(id -u)" -eq 0 ]; then
        chown nobody: "$dir"
    fi
    chmod 0700 "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U lrtest --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # fsync off: the cluster lives for one test run; crash safety is not
    # what these tests check.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c port=5432 -c fsync=off -c max_connections=40" \
        start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    t1=$(date +%s%N)
    echo "pgfix: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $dir/.s.PGSQL.5432, started in $(((t1 - t0) / 1000000)) ms"
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
