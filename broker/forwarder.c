/*
 * forwarder.c - the poll()-based TCP relay behind ecom-broker's fixed
 * bootstrap address (see forwarder.h).
 *
 * Owns the listening sockets, the connection table and one pollfd array
 * rebuilt on every fwd_poll(). Each connection pairs the accepted client
 * socket with a socket to one target; buf[d] carries bytes read from fd[d]
 * that are not yet written to fd[!d]. Nothing here blocks and nothing is
 * shared with other threads.
 */
#include "forwarder.h"
#include "elog.h"
#include "ts.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTENERS 8
#define MAX_TARGETS 64
#define ACCEPTS_PER_ROUND 64
#define ACCEPT_PAUSE_MS 100 /* after EMFILE and the like */

enum { CLIENT = 0, TARGET = 1 };

/* One direction: bytes at data[off, off + len) wait to be written. */
struct pipebuf {
    size_t off;
    size_t len;
    int eof;  /* the source reached end of stream */
    int shut; /* ... and that was passed on with shutdown(SHUT_WR) */
    char data[FWD_BUF_SIZE];
};

struct conn {
    int fd[2];      /* [CLIENT] accepted, [TARGET] connected out */
    int connecting; /* non-blocking connect of fd[TARGET] pending */
    int dead;       /* closed; freed by the sweep in fwd_poll() */
    uint64_t id;
    uint64_t bytes[2]; /* written per direction */
    const char *target;
    char peer[64];
    struct pipebuf buf[2]; /* last: buf[d] carries fd[d] -> fd[!d] */
};

struct target {
    struct sockaddr_storage addr;
    socklen_t len;
    char name[128];
};

struct fwd {
    int lfd[MAX_LISTENERS];
    size_t nlisten;
    struct target targets[MAX_TARGETS];
    size_t ntargets;
    size_t next_target; /* round-robin position */
    struct conn **conns;
    size_t nconns;
    size_t conns_cap;
    struct pollfd *pfds;
    size_t pfds_cap;
    int64_t accept_pause_until; /* monotonic ms */
    uint64_t next_id;
    fwd_stats_t stats;
};

int fwd_split_hostport(const char *addr, char *host, size_t hostsize,
                       char *port, size_t portsize)
{
    const char *hs = addr, *he, *p;
    size_t plen;
    long v;

    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        hs = addr + 1;
        he = rb;
        p = rb + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
            return -1; /* no port, or an IPv6 address without brackets */
        he = colon;
        p = colon + 1;
    }
    plen = strlen(p);
    if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen)
        return -1;
    v = strtol(p, NULL, 10);
    if (v < 1 || v > 65535)
        return -1;
    if ((size_t)(he - hs) >= hostsize || plen >= portsize)
        return -1;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
}

static void addr_to_str(const struct sockaddr *sa, socklen_t len, char *buf,
                        size_t size)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];

    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, size, "?");
        return;
    }
    snprintf(buf, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
             serv);
}

static void set_nodelay(int fd)
{
    int one = 1;
    /* Kafka requests are small and latency-bound; best effort. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Opens one listening socket. Returns the fd, or -1 with errno set and the
 * failing call named in *what. */
static int listen_one(const struct addrinfo *ai, const char **what)
{
    int fd, one = 1, saved;

    *what = "socket";
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0)
        return -1;
    /* SO_REUSEADDR allows a restart over TIME_WAIT leftovers; on Linux it
     * still refuses a port that another socket is listening on. */
    *what = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (ai->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    *what = "bind";
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        goto fail;
    *what = "listen";
    if (listen(fd, SOMAXCONN) < 0)
        goto fail;
    return fd;
fail:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int open_listeners(fwd_t *f, const char *listen_addr, char *errbuf,
                          size_t errsize)
{
    struct addrinfo hints, *res = NULL;
    char host[256], port[8];
    int rc, ret = -1;

    if (fwd_split_hostport(listen_addr, host, sizeof(host), port,
                           sizeof(port)) != 0) {
        snprintf(errbuf, errsize, "invalid listen address \"%s\" (expected HOST:PORT)",
                 listen_addr);
        errno = EINVAL;
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, errsize, "could not resolve listen address \"%s\": %s",
                 listen_addr, gai_strerror(rc));
        errno = EINVAL;
        return -1;
    }
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        char name[128];
        const char *what = NULL;
        int fd, saved;

        if (f->nlisten == MAX_LISTENERS)
            break;
        addr_to_str(ai->ai_addr, ai->ai_addrlen, name, sizeof(name));
        fd = listen_one(ai, &what);
        if (fd < 0) {
            saved = errno;
            /* "localhost" may name ::1 on a host without IPv6. */
            if (ai->ai_family == AF_INET6 &&
                (saved == EADDRNOTAVAIL || saved == EAFNOSUPPORT)) {
                LOG_DEBUG("skipping listen address %s: %s", name, strerror(saved));
                continue;
            }
            snprintf(errbuf, errsize, "could not listen on \"%s\": %s %s: %s",
                     listen_addr, what, name, strerror(saved));
            errno = saved;
            goto out;
        }
        f->lfd[f->nlisten++] = fd;
        LOG_DEBUG("listening on %s", name);
    }
    if (f->nlisten == 0) {
        snprintf(errbuf, errsize, "could not listen on \"%s\": no usable address",
                 listen_addr);
        errno = EADDRNOTAVAIL;
        goto out;
    }
    ret = 0;
out:
    freeaddrinfo(res);
    return ret;
}

static int resolve_targets(fwd_t *f, const char *targets, char *errbuf,
                           size_t errsize)
{
    char *copy = strdup(targets), *save = NULL, *tok;
    int ret = -1;

    if (copy == NULL) {
        snprintf(errbuf, errsize, "out of memory");
        return -1;
    }
    for (tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        struct addrinfo hints, *res = NULL;
        char host[256], port[8];
        struct target *t;
        int rc;

        if (f->ntargets == MAX_TARGETS)
            break;
        if (fwd_split_hostport(tok, host, sizeof(host), port, sizeof(port))) {
            snprintf(errbuf, errsize, "invalid target address \"%s\"", tok);
            goto out;
        }
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0) {
            snprintf(errbuf, errsize, "could not resolve target \"%s\": %s", tok,
                     gai_strerror(rc));
            goto out;
        }
        t = &f->targets[f->ntargets++];
        memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
        t->len = res->ai_addrlen;
        snprintf(t->name, sizeof(t->name), "%s", tok);
        freeaddrinfo(res);
    }
    if (f->ntargets == 0) {
        snprintf(errbuf, errsize, "no target address given");
        goto out;
    }
    ret = 0;
out:
    free(copy);
    return ret;
}

fwd_t *fwd_new(const char *listen_addr, const char *targets, char *errbuf,
               size_t errsize)
{
    fwd_t *f = calloc(1, sizeof(*f));
    int saved;

    if (f == NULL) {
        snprintf(errbuf, errsize, "out of memory");
        return NULL;
    }
    if (resolve_targets(f, targets, errbuf, errsize) != 0 ||
        open_listeners(f, listen_addr, errbuf, errsize) != 0)
        goto fail;
    return f;
fail:
    saved = errno;
    fwd_destroy(f);
    errno = saved; /* lets the caller tell EADDRINUSE apart */
    return NULL;
}

/* Closes both sockets; the sweep in fwd_poll() frees the connection. */
static void conn_close(struct conn *c, const char *why)
{
    LOG_DEBUG("connection %llu from %s closed (%s), %llu bytes up, %llu down",
              (unsigned long long)c->id, c->peer, why,
              (unsigned long long)c->bytes[CLIENT],
              (unsigned long long)c->bytes[TARGET]);
    for (int d = 0; d < 2; d++) {
        if (c->fd[d] >= 0)
            close(c->fd[d]);
        c->fd[d] = -1;
    }
    c->dead = 1;
}

/* Starts a non-blocking connect to the next target that does not refuse at
 * once. Returns 0, or -1 with the last error logged. */
static int conn_connect(fwd_t *f, struct conn *c)
{
    int err = 0;

    for (size_t k = 0; k < f->ntargets; k++) {
        const struct target *t = &f->targets[f->next_target];
        int fd;

        f->next_target = (f->next_target + 1) % f->ntargets;
        c->target = t->name;
        fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            break;
        }
        set_nodelay(fd);
        if (connect(fd, (const struct sockaddr *)&t->addr, t->len) == 0 ||
            errno == EINPROGRESS) {
            c->fd[TARGET] = fd;
            c->connecting = 1; /* completion is seen as POLLOUT */
            return 0;
        }
        err = errno;
        close(fd);
    }
    LOG_WARN("could not relay connection %llu from %s: connect to %s: %s",
             (unsigned long long)c->id, c->peer, c->target ? c->target : "?",
             strerror(err));
    return -1;
}

/* Takes ownership of the accepted socket cfd. */
static void conn_open(fwd_t *f, int cfd, const struct sockaddr *sa,
                      socklen_t salen)
{
    struct conn *c = NULL;

    if (f->nconns == f->conns_cap) {
        size_t cap = f->conns_cap ? f->conns_cap * 2 : 16;
        struct conn **grown = realloc(f->conns, cap * sizeof(*grown));
        if (grown == NULL)
            goto fail;
        f->conns = grown;
        f->conns_cap = cap;
    }
    /* malloc, not calloc: the two buffers need no zeroing. */
    c = malloc(sizeof(*c));
    if (c == NULL)
        goto fail;
    memset(c, 0, offsetof(struct conn, buf));
    for (int d = 0; d < 2; d++)
        memset(&c->buf[d], 0, offsetof(struct pipebuf, data));
    c->fd[CLIENT] = cfd;
    c->fd[TARGET] = -1;
    c->id = ++f->next_id;
    addr_to_str(sa, salen, c->peer, sizeof(c->peer));
    set_nodelay(cfd);
    if (conn_connect(f, c) != 0) {
        f->stats.connect_failed++;
        conn_close(c, "no target");
        free(c);
        return;
    }
    LOG_DEBUG("connection %llu from %s relayed to %s", (unsigned long long)c->id,
              c->peer, c->target);
    f->conns[f->nconns++] = c;
    return;
fail:
    LOG_WARN("dropping connection from a client: out of memory");
    close(cfd);
}

static void accept_some(fwd_t *f, int lfd)
{
    for (int i = 0; i < ACCEPTS_PER_ROUND && f->nconns < FWD_MAX_CONNS; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int cfd = accept4(lfd, (struct sockaddr *)&ss, &sl,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* EMFILE, ENFILE, ENOBUFS...: the backlog keeps the client
             * waiting; stop polling the listeners for a moment. */
            LOG_WARN("could not accept a connection: %s", strerror(errno));
            f->accept_pause_until = ts_monotonic_ms() + ACCEPT_PAUSE_MS;
            return;
        }
        f->stats.accepted++;
        conn_open(f, cfd, (struct sockaddr *)&ss, sl);
    }
}

/* May fd[d] be read now? Not while its buffer is full (backpressure), after
 * its end of stream, or from a target still connecting. */
static int can_read(const struct conn *c, int d)
{
    return !c->buf[d].eof && c->buf[d].len < FWD_BUF_SIZE &&
           !(d == TARGET && c->connecting);
}

/* Fills the two pollfds of c. A socket with nothing to wait for gets fd -1,
 * so that a stray POLLHUP cannot make poll() spin. */
static void conn_events(const struct conn *c, struct pollfd *p)
{
    short ev[2] = {0, 0};

    for (int d = 0; d < 2; d++) {
        if (can_read(c, d))
            ev[d] |= POLLIN;
        if (c->buf[d].len > 0 && !c->connecting)
            ev[!d] |= POLLOUT;
    }
    if (c->connecting)
        ev[TARGET] = POLLOUT;
    for (int d = 0; d < 2; d++) {
        p[d].fd = ev[d] ? c->fd[d] : -1;
        p[d].events = ev[d];
        p[d].revents = 0;
    }
}

/* Reads what fd[d] has into buf[d]. Returns 0, or -1 on a socket error. */
static int pipe_read(struct conn *c, int d)
{
    struct pipebuf *b = &c->buf[d];
    ssize_t n;

    if (b->off > 0 && b->off + b->len == FWD_BUF_SIZE) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    n = recv(c->fd[d], b->data + b->off + b->len, FWD_BUF_SIZE - b->off - b->len, 0);
    if (n > 0) {
        b->len += (size_t)n;
        return 0;
    }
    if (n == 0) {
        b->eof = 1;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    LOG_DEBUG("connection %llu: read from %s: %s", (unsigned long long)c->id,
              d == CLIENT ? c->peer : c->target, strerror(errno));
    return -1;
}

/* Writes what it can of buf[d] to fd[!d]. Returns 0, or -1 on an error. */
static int pipe_write(fwd_t *f, struct conn *c, int d)
{
    struct pipebuf *b = &c->buf[d];
    ssize_t n = send(c->fd[!d], b->data + b->off, b->len, MSG_NOSIGNAL);

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        LOG_DEBUG("connection %llu: write to %s: %s", (unsigned long long)c->id,
                  d == CLIENT ? c->target : c->peer, strerror(errno));
        return -1;
    }
    b->off += (size_t)n;
    b->len -= (size_t)n;
    if (b->len == 0)
        b->off = 0;
    c->bytes[d] += (uint64_t)n;
    if (d == CLIENT)
        f->stats.bytes_up += (uint64_t)n;
    else
        f->stats.bytes_down += (uint64_t)n;
    return 0;
}

/* Handles the poll results of one connection: finishes the connect, reads,
 * writes, passes half-closes on, and closes when both directions ended. */
static void conn_service(fwd_t *f, struct conn *c, const struct pollfd *p)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (p[TARGET].revents != 0) {
            if (getsockopt(c->fd[TARGET], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (err != 0) {
                LOG_WARN("could not relay connection %llu from %s: connect to %s: %s",
                         (unsigned long long)c->id, c->peer, c->target,
                         strerror(err));
                f->stats.connect_failed++;
                conn_close(c, "connect failed");
                return;
            }
            c->connecting = 0;
        }
    }
    for (int d = 0; d < 2; d++) {
        if ((p[d].revents & POLLERR) && !c->connecting) {
            conn_close(c, d == CLIENT ? "client socket error" : "target socket error");
            return;
        }
        if ((p[d].revents & (POLLIN | POLLHUP)) && can_read(c, d) &&
            pipe_read(c, d) < 0) {
            conn_close(c, "read error");
            return;
        }
    }
    if (c->connecting)
        return;
    for (int d = 0; d < 2; d++) {
        struct pipebuf *b = &c->buf[d];

        /* Write at once rather than wait for POLLOUT: usually it fits. */
        if (b->len > 0 && pipe_write(f, c, d) < 0) {
            conn_close(c, "write error");
            return;
        }
        if (b->eof && b->len == 0 && !b->shut) {
            /* Half-close: the other side may still answer. ENOTCONN when
             * it already went away is fine. */
            (void)shutdown(c->fd[!d], SHUT_WR);
            b->shut = 1;
        }
    }
    if (c->buf[CLIENT].shut && c->buf[TARGET].shut)
        conn_close(c, "both sides done");
}

static int ensure_pfds(fwd_t *f, size_t need)
{
    struct pollfd *grown;

    if (need <= f->pfds_cap)
        return 0;
    grown = realloc(f->pfds, need * sizeof(*grown));
    if (grown == NULL)
        return -1;
    f->pfds = grown;
    f->pfds_cap = need;
    return 0;
}

/* Frees closed connections, keeping the order of the others. */
static void sweep(fwd_t *f)
{
    size_t kept = 0;

    for (size_t i = 0; i < f->nconns; i++) {
        if (f->conns[i]->dead)
            free(f->conns[i]);
        else
            f->conns[kept++] = f->conns[i];
    }
    f->nconns = kept;
}

int fwd_poll(fwd_t *f, int timeout_ms)
{
    size_t nc = f->nconns, n = 0;
    int accepting, rc;

    if (ensure_pfds(f, f->nlisten + 2 * nc) != 0) {
        LOG_ERROR("forwarder: out of memory for %zu connections", nc);
        return -1;
    }
    accepting = nc < FWD_MAX_CONNS && ts_monotonic_ms() >= f->accept_pause_until;
    for (size_t i = 0; i < f->nlisten; i++, n++) {
        f->pfds[n].fd = accepting ? f->lfd[i] : -1;
        f->pfds[n].events = POLLIN;
        f->pfds[n].revents = 0;
    }
    for (size_t i = 0; i < nc; i++, n += 2)
        conn_events(f->conns[i], &f->pfds[n]);

    rc = poll(f->pfds, n, timeout_ms);
    if (rc < 0) {
        if (errno == EINTR)
            return 0;
        LOG_ERROR("forwarder: poll failed: %s", strerror(errno));
        return -1;
    }
    if (rc == 0)
        return 0;
    /* Connections first: accepting appends to f->conns past nc. */
    for (size_t i = 0; i < nc; i++) {
        const struct pollfd *p = &f->pfds[f->nlisten + 2 * i];
        if (p[0].revents != 0 || p[1].revents != 0)
            conn_service(f, f->conns[i], p);
    }
    for (size_t i = 0; i < f->nlisten; i++)
        if (f->pfds[i].revents & POLLIN)
            accept_some(f, f->lfd[i]);
    sweep(f);
    return 0;
}

void fwd_stats(const fwd_t *f, fwd_stats_t *out)
{
    *out = f->stats;
    out->active = f->nconns;
}

void fwd_destroy(fwd_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nlisten; i++)
        close(f->lfd[i]);
    for (size_t i = 0; i < f->nconns; i++) {
        if (!f->conns[i]->dead)
            conn_close(f->conns[i], "shutting down");
        free(f->conns[i]);
    }
    free(f->conns);
    free(f->pfds);
    free(f);
}
