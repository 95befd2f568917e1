#!/usr/bin/env bash
# tests/integration/pg_shared.sh start|stop ENVFILE - the one PostgreSQL a
# test run shares (ctest fixture "pg_shared", tests/CMakeLists.txt).
# start: a throwaway cluster (scripts/pg-local.sh, schema applied to the
# template database "ecommerce", its role allowed to create databases) on a
# free port, and ENVFILE saying where it is. Each test that requires the
# fixture gets a database of its own, copied from that template by
# lib.sh's start_pg and dropped when it ends; the fault tests (a server
# stopped, killed or frozen) keep a cluster of their own.
# stop: stops it and removes its directory.
set -euo pipefail
repo=${ECOM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=scripts/lib-ports.sh
. "$repo/scripts/lib-ports.sh"
(($# == 2)) && [[ $1 == start || $1 == stop ]] || { echo "usage: $0 start|stop ENVFILE" >&2; exit 2; }
envfile=$2
export ECOM_ENV_FILE=/dev/null ECOM_PG_QUIET=1

case $1 in
start)
    if [[ -f $envfile ]]; then # a run that ended without its cleanup
        "$0" stop "$envfile" || true
    fi
    dir=$(mktemp -d /tmp/ecom-pg-shared.XXXXXX)
    chmod 755 "$dir" # as root, PostgreSQL runs as "postgres" and must enter it
    export ECOM_PGDATA=$dir/pg PGPORT=$(free_port) ECOM_PG_CREATEDB=1
    export POSTGRES_DB=ecommerce POSTGRES_USER=ecom POSTGRES_PASSWORD=ecom_test
    "$repo/scripts/pg-local.sh" start
    cat >"$envfile" <<EOF
ECOM_PG_SHARED_DIR=$dir
ECOM_PGDATA=$ECOM_PGDATA
PGPORT=$PGPORT
EOF
    echo "shared PostgreSQL on localhost:$PGPORT ($dir)"
    ;;
stop)
    [[ -f $envfile ]] || { echo "no shared PostgreSQL ($envfile missing)"; exit 0; }
    # shellcheck disable=SC1090
    . "$envfile"
    export ECOM_PGDATA PGPORT
    "$repo/scripts/pg-local.sh" stop
    rm -rf -- "$ECOM_PG_SHARED_DIR" "$envfile"
    echo "shared PostgreSQL stopped"
    ;;
esac
