#!/usr/bin/env bash
# scripts/pg-local.sh - a private PostgreSQL 15 server for development and tests.
#
# Owns one cluster: its data directory ($ECOM_PGDATA, default <repo>/data/pg),
# a server listening on localhost:$PGPORT only (default 5433) with its unix
# socket inside the data directory, the project role and database in it, and
# reapplying sql/init.sql on every start. It never touches the system's own
# clusters (pg_lsclusters) and never runs docker; docker-compose.yml is the
# containerised equivalent.
#
# Settings: the repo's .env (or $ECOM_ENV_FILE) is read without overriding
# variables already set, so the environment wins. Test suites point
# ECOM_PGDATA and PGPORT at a throwaway cluster.
#
# As root the server runs as the data directory's owner (the "postgres" OS
# user for a new cluster) through runuser, because PostgreSQL refuses to run
# as root; as any other user it runs as that user.
set -euo pipefail

prog=pg-local
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quiet_var=ECOM_PG_QUIET
writable_hint="run this script as the data directory's owner or as root, or choose another ECOM_PGDATA"
# shellcheck source=scripts/lib-local.sh
. "$repo/scripts/lib-local.sh"
default_bindir=/usr/lib/postgresql/15/bin

usage() {
    cat <<EOF
$prog: start, stop and inspect a private PostgreSQL 15 server for ecom-pipeline.

Usage:
  scripts/pg-local.sh start         start the server (install, initdb, create the
                                    role and database, apply sql/init.sql)
  scripts/pg-local.sh stop          stop it (fast shutdown); harmless if stopped
  scripts/pg-local.sh status        print running/stopped and the port;
                                    exit 0 if running, 3 if not
  scripts/pg-local.sh psql [ARGS]   run psql as the project role on its database

Environment (after the repo's .env, which never overrides it):
  ECOM_PGDATA        data directory (default: <repo>/data/pg)
  PGPORT             port on localhost (default: 5433)
  POSTGRES_DB        database (default: ecommerce)
  POSTGRES_USER      login role owning the database (default: ecom)
  POSTGRES_PASSWORD  its password (default: ecom_pass)
  ECOM_PG_QUIET      1 to print only warnings and errors
  ECOM_PG_CREATEDB   1 to let the role create databases (the test suite's
                     shared cluster: a database per test)
  ECOM_PG_BINDIR     PostgreSQL binaries (default: $default_bindir)
  ECOM_PG_INIT_SQL   schema files applied on start, in order, separated by spaces
                     (default: <repo>/sql/init.sql, windows.sql, alerts.sql,
                     batch.sql, quality.sql, scheduler.sql and metrics.sql)
  ECOM_ENV_FILE      env file to read instead of <repo>/.env
EOF
}

read_settings() {


    read_env

    bindir=${ECOM_PG_BINDIR:-$default_bindir}
    pgdata=''
    abspath pgdata "${ECOM_PGDATA:-$repo/data/pg}"
    port=${PGPORT:-5433}
    db=${POSTGRES_DB:-ecommerce}
    role=${POSTGRES_USER:-ecom}
    password=${POSTGRES_PASSWORD:-ecom_pass}
    init_sql=${ECOM_PG_INIT_SQL:-$repo/sql/init.sql $repo/sql/windows.sql $repo/sql/alerts.sql $repo/sql/batch.sql $repo/sql/quality.sql $repo/sql/scheduler.sql $repo/sql/metrics.sql}
    logfile=$pgdata/pg-local.log

    check_port PGPORT "$port"
    [[ -n $db && -n $role ]] || die "POSTGRES_DB and POSTGRES_USER must not be empty"
    [[ -n $password ]] || die "POSTGRES_PASSWORD must not be empty" \
        "the role logs in over TCP with a password; set it in .env"

    # The server user: ourselves, or as root the owner of the cluster.
    server_user=
    if ((EUID == 0)); then
        server_user=postgres
        if [[ -f $pgdata/PG_VERSION ]]; then
            server_user=$(stat -c %U "$pgdata")
            [[ $server_user != root ]] ||
                die "data directory \"$pgdata\" is owned by root" \
                    "PostgreSQL cannot run as root; chown -R postgres: \"$pgdata\""
        fi
        superuser=$server_user
    else
        superuser=$(id -un)
        if [[ -d $pgdata && ! -O $pgdata ]]; then
            die "data directory \"$pgdata\" is owned by \"$(stat -c %U "$pgdata")\", not by \"$superuser\"" \
                "run this script as that user or as root, or choose another ECOM_PGDATA"
        fi
    fi
}

# as_server CMD...: runs CMD as the server user (from / when switching user,
# so the server user never needs access to our working directory).
as_server() {
    if [[ -n $server_user ]]; then
        (cd / && runuser -u "$server_user" -- "$@")
    else
        "$@"
    fi
}

have_binaries() {
    [[ -x $bindir/initdb && -x $bindir/pg_ctl && -x $bindir/psql ]]
}

ensure_installed() {
    have_binaries && return 0
    [[ $bindir == "$default_bindir" ]] ||
        die "no PostgreSQL binaries in \"$bindir\"" "check ECOM_PG_BINDIR"
    apt_install postgresql-15
    have_binaries || die "postgresql-15 installed, but \"$bindir\" still lacks initdb, pg_ctl or psql"
}

initialized() {
    [[ -f $pgdata/PG_VERSION ]]
}

# is_running: 0 if a postmaster is running on the data directory.
is_running() {
    initialized && as_server "$bindir/pg_ctl" status -D "$pgdata" >/dev/null 2>&1
}

# running_port: the port of the running server, from postmaster.pid line 4.
running_port() {
    sed -n 4p "$pgdata/postmaster.pid" 2>/dev/null || true
}

# check_reachable: as root, the server user must be able to reach the data
# directory through every parent directory (mktemp -d makes a 0700 one).
check_reachable() {
    local parent dir="" part

    [[ -n $server_user ]] || return 0
    parent=$(dirname "$pgdata")
    as_server test -x "$parent" && return 0
    IFS=/ read -ra parts <<<"${parent#/}"
    for part in "${parts[@]}"; do
        dir+=/$part
        as_server test -x "$dir" ||
            die "data directory \"$pgdata\" is not reachable by the \"$server_user\" user: \"$dir\" is not searchable" \
                "chmod o+x \"$dir\", or choose an ECOM_PGDATA under a directory \"$server_user\" can enter"
    done
}

# prepare_datadir: creates an empty data directory owned by the server user,
# or takes over an existing empty one.
prepare_datadir() {
    if [[ ! -e $pgdata ]]; then
        (umask 022 && mkdir -p -- "$(dirname "$pgdata")")
        mkdir -m 700 -- "$pgdata"
    elif [[ ! -d $pgdata ]]; then
        die "data directory \"$pgdata\" exists but is not a directory"
    elif [[ -n $(ls -A -- "$pgdata") ]]; then
        die "data directory \"$pgdata\" is not empty but holds no cluster (no PG_VERSION)" \
            "empty it, or point ECOM_PGDATA at another directory"
    fi
    chmod 700 -- "$pgdata"
    [[ -z $server_user ]] || chown -- "$server_user:" "$pgdata"
}

init_cluster() {
    prepare_datadir
    check_reachable
    say "initialising a new cluster in \"$pgdata\""
    as_server "$bindir/initdb" -D "$pgdata" -U "$superuser" -E UTF8 --no-locale \
        --auth-local=peer --auth-host=scram-sha-256 --no-instructions >/dev/null ||
        die "initdb failed for \"$pgdata\""
    printf "\n# Added by scripts/pg-local.sh: port, listen and socket settings.\ninclude_if_exists = 'pg-local.conf'\n" |
        as_server tee -a "$pgdata/postgresql.conf" >/dev/null
}

# write_local_conf: the settings that follow the environment, rewritten on
# every start so a changed PGPORT or a moved data directory takes effect.
write_local_conf() {
    local sockpath=$pgdata/.s.PGSQL.$port

    ((${#sockpath} <= 107)) ||
        die "socket path \"$sockpath\" is too long for a unix socket (${#sockpath} > 107 bytes)" \
            "choose a shorter ECOM_PGDATA"
    as_server tee "$pgdata/pg-local.conf" >/dev/null <<EOF
# pg-local.conf - written by scripts/pg-local.sh on every start; set PGPORT
# and ECOM_PGDATA instead of editing this file.
listen_addresses = 'localhost'
port = $port
unix_socket_directories = '${pgdata//\'/\'\'}'
EOF
}

start_server() {
    write_local_conf
    say "starting server on localhost:$port (data directory \"$pgdata\")"
    if ! as_server "$bindir/pg_ctl" start -D "$pgdata" -l "$logfile" -w -t 60 -s >/dev/null; then
        warn "could not start the server on port $port; last lines of \"$logfile\":"
        tail -n 15 "$logfile" >&2 || true
        die "server did not start" "is port $port already in use? set PGPORT to another port"
    fi
}

# ensure_role_db: creates the login role and its database if missing, and
# (re)sets the role's password from the environment. Values travel through
# the environment to psql's \getenv, never on a command line.
ensure_role_db() {
    local p=$1

    ECOM_PG_ROLE=$role ECOM_PG_DB=$db ECOM_PG_PASSWORD=$password ECOM_PG_CREATEDB=${ECOM_PG_CREATEDB:-0} \
        as_server "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$pgdata" -p "$p" \
        -U "$superuser" -d postgres >/dev/null <<'SQL' ||
\getenv role ECOM_PG_ROLE
\getenv db ECOM_PG_DB
\getenv password ECOM_PG_PASSWORD
\getenv createdb ECOM_PG_CREATEDB
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT format('ALTER ROLE %I CREATEDB', :'role') WHERE :'createdb' = '1' \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
        die "could not create role \"$role\" or database \"$db\""
}

# apply_init_sql: applies the schema as the project role, over TCP with its
# password, exactly as the daemons connect.
apply_init_sql() {
    local p=$1 f

    for f in $init_sql; do
        [[ -r $f ]] || die "could not read \"$f\""
        PGPASSWORD=$password PGOPTIONS='-c client_min_messages=warning' \
            "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h localhost -p "$p" -U "$role" -d "$db" \
            -f "$f" >/dev/null ||
            die "could not apply \"$f\" to database \"$db\""
    done
}

cmd_start() {
    local p

    ensure_installed
    if ! initialized; then
        init_cluster
    else
        check_reachable
    fi
    if is_running; then
        p=$(running_port)
        say "already running on localhost:$p (data directory \"$pgdata\")"
        [[ $p == "$port" ]] ||
            warn "the server listens on port $p, not PGPORT=$port; stop and start it to move it"
    else
        start_server
        p=$port
    fi
    ensure_role_db "$p"
    apply_init_sql "$p"
    say "ready: postgresql://$role@localhost:$p/$db (schema applied)"
}

cmd_stop() {
    if ! have_binaries || ! is_running; then
        say "not running (data directory \"$pgdata\")"
        return 0
    fi
    as_server "$bindir/pg_ctl" stop -D "$pgdata" -m fast -w -t 60 -s ||
        die "could not stop the server" "see \"$logfile\""
    say "stopped (data directory \"$pgdata\")"
}

cmd_status() {
    if have_binaries && is_running; then
        printf 'running on localhost:%s (data directory "%s")\n' "$(running_port)" "$pgdata"
        return 0
    fi
    printf 'stopped (port %s, data directory "%s")\n' "$port" "$pgdata"
    return 3
}

cmd_psql() {
    if ! have_binaries || ! is_running; then
        die "server is not running (data directory \"$pgdata\")" "start it with scripts/pg-local.sh start"
    fi
    PGPASSWORD=$password exec "$bindir/psql" -h localhost -p "$(running_port)" -U "$role" -d "$db" "$@"
}

main() {
    local cmd=${1:-}

    case $cmd in
    -h | --help | help)
        usage
        return 0
        ;;
    start | stop | status | psql) shift ;;
    '')
        usage_error "missing command"
        ;;
    *)
        usage_error "unknown command \"$cmd\""
        ;;
    esac
    if [[ $cmd != psql && $# -gt 0 ]]; then
        usage_error "unexpected argument \"$1\" for \"$cmd\""
    fi

    read_settings
    case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    psql) cmd_psql "$@" ;;
    esac
}

main "$@"
