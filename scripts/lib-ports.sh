# scripts/lib-ports.sh - free TCP ports for the test suites and benchmarks
# (tests/integration/lib.sh, bench/lib.sh); sourced, never run.
# shellcheck shell=bash

# free_port: a TCP port nobody listens on right now.
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# free_port_block N: a port P such that P..P+N-1 and their controller ports
# P+1000.. (scripts/kafka-local.sh's default) are all free, avoiding the
# ports the demo and devstack use.
free_port_block() {
    local n=$1 attempt p
    for ((attempt = 0; attempt < 50; attempt++)); do
        p=$(free_port)
        ((p + n + 1000 <= 65535)) || continue
        if /usr/bin/python3 - "$p" "$n" <<'PY'; then
import socket, sys
p, n = int(sys.argv[1]), int(sys.argv[2])
reserved = {5433, 7077, 8080, 8082, 8083, 9092, 9093, 9101, 10092}
ports = [q for b in (p, p + 1000) for q in range(b, b + n)]
if reserved & set(ports):
    sys.exit(1)
for q in ports:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", q))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
            printf '%s' "$p"
            return 0
        fi
    done
    return 1
}
