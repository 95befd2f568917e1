/*
 * forwarder.h - a small TCP relay: listens on a fixed address and relays
 * each accepted connection, byte for byte, to one of a list of target
 * addresses (round-robin). ecom-broker uses it to give the mock cluster,
 * whose brokers sit on ephemeral ports, a stable bootstrap address.
 *
 * Single-threaded and poll()-based: the owner calls fwd_poll() from its run
 * loop. Every socket is non-blocking; each connection has one bounded buffer
 * per direction, a full buffer stops reading from that side (backpressure),
 * and an end-of-stream is passed on as a half-close (shutdown SHUT_WR).
 *
 * Owns its listening sockets, its connections and their buffers; free with
 * fwd_destroy(). It does not parse or alter the relayed protocol.
 */
#ifndef ECOM_BROKER_FORWARDER_H
#define ECOM_BROKER_FORWARDER_H

#include <stddef.h>
#include <stdint.h>

/* Bytes buffered per direction and connection. */
#define FWD_BUF_SIZE (64 * 1024)
/* Connections relayed at once; beyond that new ones wait in the backlog. */
#define FWD_MAX_CONNS 1024

typedef struct fwd fwd_t;

/* Counters since fwd_new(). */
typedef struct {
    uint64_t accepted;       /* client connections accepted */
    uint64_t active;         /* connections open now */
    uint64_t connect_failed; /* dropped because no target accepted them */
    uint64_t bytes_up;       /* client to target */
    uint64_t bytes_down;     /* target to client */
} fwd_stats_t;

/* Splits "host:port", "[v6addr]:port" or ":port" (any address) into host
 * (empty for any) and port. Returns 0, or -1 when addr has no port, an
 * empty or non-numeric port, or does not fit. */
int fwd_split_hostport(const char *addr, char *host, size_t hostsize,
                       char *port, size_t portsize);

/* Binds and listens on every address listen_addr resolves to (so that
 * "localhost" covers both 127.0.0.1 and ::1 when both exist), and resolves
 * the comma-separated "host:port" targets. Returns NULL with errbuf filled
 * when an address is in use, none could be bound, or a target does not
 * resolve. */
fwd_t *fwd_new(const char *listen_addr, const char *targets, char *errbuf,
               size_t errsize);

/* Waits up to timeout_ms for socket events and moves whatever data is
 * ready. Returns 0, also when interrupted by a signal (the caller checks its
 * stop flag), or -1 when poll() itself failed (logged). */
int fwd_poll(fwd_t *f, int timeout_ms);

void fwd_stats(const fwd_t *f, fwd_stats_t *out);

/* Closes the listeners and every connection (both sides), frees f.
 * Accepts NULL. */
void fwd_destroy(fwd_t *f);

#endif
