#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real PostgreSQL server for the registry's tests (docs/design.md D33).
#   tests/pgfix.sh start LINK   initdb a cluster in a new temporary directory
#                               (/tmp/lr-pg.XXXXXX), start it listening only on
#                               a Unix socket in that directory, and point the
#                               symlink LINK at it. Connect with
#                               "host=LINK port=5432 user=lrtest dbname=postgres".
#   tests/pgfix.sh stop LINK    stop that server and remove the directory and LINK.
#   tests/pgfix.sh down LINK    stop that server, keeping its directory (a test's
#                               database outage, docs/design.md D38).
#   tests/pgfix.sh up LINK      start it again after down.
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

# Starts the server of directory $1 and waits until it accepts connections.
server_start() {
    # fsync off: the cluster lives for one test run; crash safety is not
    # what these tests check.
    as_owner "$bindir/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$1' -c port=5432 -c fsync=off -c max_connections=40" \
        start >/dev/null || {
        cat "$1/server.log" >&2
        exit 1
    }
}

# The pgfix directory LINK points at, or exit 1.
fixdir() {
    local dir
    dir=$(readlink "$link" || true)
    case "$dir" in
    /tmp/lr-pg.*) echo "$dir" ;;
    *)
        echo "pgfix: $link is not a pgfix link" >&2
        exit 1
        ;;
    esac
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
    server_start "$dir"
    t1=$(date +%s%N)
    echo "pgfix: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $dir/.s.PGSQL.5432, started in $(((t1 - t0) / 1000000)) ms"
}

case "$cmd" in
start) start ;;
stop) stop ;;
down)
    d=$(fixdir)
    as_owner "$bindir/pg_ctl" -D "$d/data" -m fast -w -t 60 stop >/dev/null
    ;;
up)
    d=$(fixdir)
    server_start "$d"
    ;;
*) usage ;;
esac
