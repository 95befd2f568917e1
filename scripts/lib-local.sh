# scripts/lib-local.sh - shell code shared by scripts/pg-local.sh,
# scripts/kafka-local.sh and scripts/spark-local.sh; sourced, never run.
#
# The sourcing script sets, before calling anything here:
#   prog           the name messages start with (e.g. kafka-local)
#   repo           the repository's root
#   quiet_var      the variable that, set to 1, silences say (ECOM_PG_QUIET...)
#   writable_hint  the hint need_writable prints for a directory it cannot write
# shellcheck shell=bash disable=SC2154

say() {
    [[ ${!quiet_var:-0} == 1 ]] || printf '%s: %s\n' "$prog" "$*" >&2
}

warn() {
    printf '%s: %s\n' "$prog" "$*" >&2
}

# die MESSAGE [HINT]: prints the message (and a hint line) and exits 1.
die() {
    warn "$1"
    [[ $# -lt 2 ]] || printf 'hint: %s\n' "$2" >&2
    exit 1
}

# usage_error MESSAGE: prints the message and where help is, exits 2.
usage_error() {
    warn "$1"
    printf 'Try "scripts/%s.sh --help" for more information.\n' "$prog" >&2
    exit 2
}

# trim VAR TEXT: sets VAR to TEXT without leading and trailing whitespace.
trim() {
    local s=$2
    s=${s#"${s%%[![:space:]]*}"}
    s=${s%"${s##*[![:space:]]}"}
    printf -v "$1" '%s' "$s"
}

# load_env_file FILE: exports FILE's KEY=VALUE lines that are not already set,
# with the rules of common/config.c: blank lines and '#' comments skipped,
# "export " accepted, quotes around the value stripped, and an unquoted value
# cut at " #".
load_env_file() {
    local file=$1 raw line key value lineno=0 hash

    while IFS= read -r raw || [[ -n $raw ]]; do
        lineno=$((lineno + 1))
        trim line "$raw"
        [[ -z $line || $line == '#'* ]] && continue
        [[ $line == 'export '* ]] && trim line "${line#export }"
        [[ $line == *=* ]] || die "$file:$lineno: malformed line (expected KEY=VALUE)"
        trim key "${line%%=*}"
        trim value "${line#*=}"
        [[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
            die "$file:$lineno: malformed line (expected KEY=VALUE)"
        if [[ ${#value} -ge 2 && ( $value == \"*\" || $value == \'*\' ) ]]; then
            value=${value:1:${#value}-2}
        else
            hash=${value%% \#*}
            trim value "$hash"
        fi
        [[ -n ${!key+set} ]] || export "$key=$value"
    done <"$file"
}

# read_env: loads $ECOM_ENV_FILE, else the repo's .env if there is one.
read_env() {
    local env_file=${ECOM_ENV_FILE:-$repo/.env}

    if [[ -f $env_file || -c $env_file ]]; then
        load_env_file "$env_file"
    elif [[ -n ${ECOM_ENV_FILE:-} ]]; then
        die "could not open env file \"$env_file\""
    fi
}

# abspath VAR PATH: sets VAR to PATH made absolute, without trailing slashes.
abspath() {
    local p=$2
    [[ $p == /* ]] || p=$PWD/$p
    while [[ $p == */ && $p != / ]]; do p=${p%/}; done
    printf -v "$1" '%s' "$p"
}

# check_port NAME VALUE [0ok]: a TCP port (or 0 with 0ok).
check_port() {
    if [[ ${3:-} == 0ok && $2 == 0 ]]; then return 0; fi
    if ! [[ $2 =~ ^[1-9][0-9]{0,4}$ ]] || (($2 > 65535)); then
        die "invalid value \"$2\" for $1" "use a TCP port number between 1 and 65535"
    fi
}

# check_memory NAME VALUE: a JVM size such as 256m or 1g.
check_memory() {
    [[ $2 =~ ^[1-9][0-9]*[kKmMgG]$ ]] ||
        die "invalid value \"$2\" for $1" "use a size such as 512m or 1g"
}

# check_seconds NAME VALUE
check_seconds() {
    [[ $2 =~ ^[1-9][0-9]{0,4}$ ]] || die "invalid value \"$2\" for $1" "use a whole number of seconds"
}

# need_writable DIR: DIR (or the nearest existing parent) must be writable.
need_writable() {
    local d=$1
    while [[ ! -e $d ]]; do d=$(dirname "$d"); done
    [[ -d $d && -w $d ]] ||
        die "\"$d\" is not a writable directory (owner \"$(stat -c %U "$d" 2>/dev/null || echo '?')\")" \
            "$writable_hint"
}

# lock_cache DIR: an exclusive lock on DIR/.install.lock, waited for up to
# 15 minutes, so that runs started side by side (ctest -j 2 on a fresh
# machine) do not download into the same cache at once: the second waits,
# then finds the first one's install. Released by unlock_cache or at exit.
lock_cache() {
    need_writable "$1"
    mkdir -p -- "$1"
    exec {cache_lock_fd}>"$1/.install.lock"
    if ! flock -n "$cache_lock_fd"; then
        say "waiting for another install into \"$1\""
        flock -w 900 "$cache_lock_fd" || die "another install into \"$1\" has held it for 15 minutes"
    fi
}

unlock_cache() {
    if [[ -n ${cache_lock_fd:-} ]]; then
        exec {cache_lock_fd}>&-
        cache_lock_fd=
    fi
}

# apt_install PACKAGE...: installs Debian packages, as root or through sudo
# (scripts/deps.sh --run installs them all up front; this covers a script
# run without it).
apt_install() {
    local sudo=()

    if ((EUID != 0)); then
        command -v sudo >/dev/null ||
            die "$* not installed and sudo is not available" "install as root: apt-get install -y $*"
        sudo=(sudo)
    fi
    say "installing $* with apt-get"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; then
        # A fresh machine may have no package lists yet.
        "${sudo[@]}" apt-get update -q >&2 || die "apt-get update failed"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 ||
            die "could not install $*"
    fi
}
