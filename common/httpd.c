/*
 * httpd.c - /metrics and /health over libmicrohttpd (see httpd.h).
 *
 * Owns the listening socket (created here, anet-style, so that bind errors
 * come back with strerror text and port 0 can be read back) and the
 * libmicrohttpd daemon, which takes the socket over and serves requests on
 * its internal polling thread. Borrows the metrics registry and the health
 * callback's argument.
 */
#include "httpd.h"
#include "elog.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define TEXT_CONTENT_TYPE "text/plain; charset=utf-8"
#define LISTEN_BACKLOG 64
#define CONNECTION_LIMIT 32u   /* scrapers and probes, not the public */
#define CONNECTION_TIMEOUT 10u /* seconds a silent client may hold a slot */

struct httpd {
    struct MHD_Daemon *daemon;
    metrics_t *metrics;
    httpd_health_fn health;
    void *health_arg;
    httpd_route_fn route;
    void *route_arg;
    int port;
};

/* Queues a response. body is copied, or, when owned is set, handed to
 * libmicrohttpd which frees it (and freed here if that fails). */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
                             const char *content_type, char *body, size_t len,
                             int owned, const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        if (owned)
            free(body);
        return MHD_NO; /* libmicrohttpd closes the connection */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn,
                                  unsigned int status, const char *text,
                                  const char *allow)
{
    return reply(conn, status, TEXT_CONTENT_TYPE, (char *)text, strlen(text), 0,
                 allow);
}

static enum MHD_Result serve_metrics(httpd_t *h, struct MHD_Connection *conn)
{
    size_t len = 0;
    char *text = metrics_render(h->metrics, &len);

    if (text == NULL)
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "out of memory\n", NULL);
    return reply(conn, MHD_HTTP_OK, HTTPD_METRICS_CONTENT_TYPE, text, len, 1,
                 NULL);
}

static enum MHD_Result serve_health(httpd_t *h, struct MHD_Connection *conn)
{
    char detail[256] = "";
    char body[sizeof(detail) + 16];
    int healthy = 1;

    if (h->health != NULL)
        healthy = h->health(h->health_arg, detail, sizeof(detail)) != 0;
    detail[sizeof(detail) - 1] = '\0';
    snprintf(body, sizeof(body), "%s%s%s\n", healthy ? "ok" : "unhealthy",
             detail[0] != '\0' ? ": " : "", detail);
    return reply_text(
        conn, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, NULL);
}

struct httpd_req {
    struct MHD_Connection *conn;
    const char *path;
};

const char *httpd_req_path(const httpd_req_t *r) { return r->path; }

const char *httpd_req_arg(const httpd_req_t *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result serve_route(httpd_t *h, struct MHD_Connection *conn, const char *url)
{
    httpd_req_t req = {conn, url};
    const char *type = NULL;
    enum MHD_Result ret;
    unsigned status;
    buf_t body;

    buf_init(&body);
    status = h->route(h->route_arg, &req, &body, &type);
    if (status == 0)
        ret = reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    else if (body.oom)
        ret = reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    else /* handed over: libmicrohttpd frees it */
        ret = reply(conn, status, type != NULL ? type : TEXT_CONTENT_TYPE,
                    body.data != NULL ? body.data : strdup(""), body.len, 1, NULL);
    return ret;
}

/* libmicrohttpd's access handler, on its internal thread. It is called once
 * the headers are in, once per chunk of body, and once more at the end.
 * Errors are answered on the first call (libmicrohttpd then closes the
 * connection without reading a body); GET and HEAD at the end, which keeps
 * the connection alive for the next scrape. */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **req_cls)
{
    static int seen; /* a marker for *req_cls; holds no state */
    httpd_t *h = cls;
    int is_metrics = strcmp(url, "/metrics") == 0 && h->metrics != NULL;
    int is_health = strcmp(url, "/health") == 0;
    int is_route = !is_metrics && !is_health && h->route != NULL;

    (void)version;
    (void)upload_data;
    if (!is_metrics && !is_health && !is_route)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed\n", "GET, HEAD");
    if (*req_cls == NULL) {
        *req_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a GET with a body: discard it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (is_route)
        return serve_route(h, conn, url);
    return is_metrics ? serve_metrics(h, conn) : serve_health(h, conn);
}

/* libmicrohttpd's error messages (they end in a newline), as elog lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    LOG_WARN("http server: %s", msg);
}

/* Creates a non-blocking socket listening on addr:port, trying each address
 * the name resolves to. Returns it and the bound port in *bound_port, or -1
 * with the reason in err. */
static int listen_on(const char *addr, int port, int *bound_port, char *err,
                     size_t errsize)
{
    struct addrinfo hints = {0}, *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char service[8];
    const char *fmt = strchr(addr, ':') != NULL ? "\"[%s]:%d\"" : "\"%s:%d\"";
    char where[300];
    int fd = -1, saved = 0, rc, one = 1;

    snprintf(where, sizeof(where), fmt, addr, port);
    snprintf(service, sizeof(service), "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(addr, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errsize, "could not resolve bind address %s: %s", where,
                 gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        /* Lets a restarted daemon rebind past TIME_WAIT; a live listener
         * on the port still makes bind fail with EADDRINUSE. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, LISTEN_BACKLOG) == 0 &&
            getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errsize, "could not listen on %s: %s", where,
                 strerror(saved));
        return -1;
    }
    *bound_port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

httpd_t *httpd_start(const char *bind_addr, int port, metrics_t *m,
                     httpd_health_fn health, void *arg, char *errbuf,
                     size_t errsize)
{
    return httpd_start_routes(bind_addr, port, m, health, arg, NULL, NULL, errbuf, errsize);
}

httpd_t *httpd_start_routes(const char *bind_addr, int port, metrics_t *m,
                            httpd_health_fn health, void *arg, httpd_route_fn route,
                            void *route_arg, char *errbuf, size_t errsize)
{
    char scratch[1];
    httpd_t *h = NULL;
    int fd = -1;

    if (errbuf == NULL || errsize == 0) { /* callers may not care why */
        errbuf = scratch;
        errsize = sizeof(scratch);
    }
    errbuf[0] = '\0';
    if (bind_addr == NULL || *bind_addr == '\0')
        bind_addr = "0.0.0.0";
    if (port < 0 || port > 65535) {
        snprintf(errbuf, errsize, "invalid HTTP port %d (use 0 to 65535)",
                 port);
        goto fail;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(errbuf, errsize, "out of memory");
        goto fail;
    }
    h->metrics = m;
    h->health = health;
    h->health_arg = arg;
    h->route = route;
    h->route_arg = route_arg;
    fd = listen_on(bind_addr, port, &h->port, errbuf, errsize);
    if (fd < 0)
        goto fail;
    h->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        handle_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT,
        MHD_OPTION_END);
    if (h->daemon == NULL) {
        /* libmicrohttpd has logged why (mhd_log). Version 0.9.75 closes the
         * socket on some of its failure paths and not on others: leaking it
         * on this rare failure is safer than closing a descriptor number
         * another thread may already reuse. */
        fd = -1;
        snprintf(errbuf, errsize, "could not start the HTTP server on port %d",
                 h->port);
        goto fail;
    }
    return h;

fail:
    if (fd >= 0)
        close(fd);
    free(h);
    return NULL;
}

int httpd_port(const httpd_t *h) { return h != NULL ? h->port : -1; }

void httpd_stop(httpd_t *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon); /* joins its thread, closes the socket */
    free(h);
}
