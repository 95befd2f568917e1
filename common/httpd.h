/*
 * httpd.h - a daemon's HTTP endpoint, served by libmicrohttpd:
 *   GET /metrics  the metrics_t registry in the Prometheus text format 0.0.4
 *   GET /health   200 "ok" (plus detail) or 503 "unhealthy: <detail>"
 * and, for a daemon that serves more (ecom-metrics' API and dashboard),
 * every other GET through a route callback (httpd_start_routes).
 * Any other path answers 404; any method but GET and HEAD, 405.
 *
 * Threads: httpd_start() and httpd_stop() run on the caller's (main) thread.
 * Requests are served one at a time on libmicrohttpd's internal thread, which
 * is where the health callback, the metrics collect callback and
 * metrics_render() run.
 *
 * Ownership: httpd_t owns the listening socket and the libmicrohttpd daemon;
 * free both with httpd_stop(). It borrows the metrics_t and the health
 * argument, which must outlive it. Not in here: TLS or authentication (bind
 * to a private address instead).
 */
#ifndef ECOM_HTTPD_H
#define ECOM_HTTPD_H

#include <stddef.h>

#include "buf.h"
#include "metrics.h"

#define HTTPD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct httpd httpd_t;

/* Health check, called on the HTTP thread for each GET /health: returns 1
 * when healthy, 0 when not, and may write a one-line, NUL-terminated detail
 * ("lag 120 ms", "broker down") of at most size bytes into detail, which
 * starts empty. It must be quick and safe against the daemon's own threads. */
typedef int (*httpd_health_fn)(void *arg, char *detail, size_t size);

/* Listens on bind_addr (a numeric address or a host name; NULL or "" for
 * 0.0.0.0) and port (0 picks a free ephemeral port, see httpd_port()), then
 * serves requests on a new thread. m may be NULL (then /metrics answers 404);
 * health may be NULL (then /health always answers 200 "ok").
 * Returns NULL with the reason in errbuf (e.g. 'could not listen on
 * "127.0.0.1:9464": Address already in use') on failure. */
httpd_t *httpd_start(const char *bind_addr, int port, metrics_t *m,
                     httpd_health_fn health, void *arg, char *errbuf,
                     size_t errsize);

/* A request as a route callback sees it. */
typedef struct httpd_req httpd_req_t;
/* The path of the request, without its query string ("/api/series"). */
const char *httpd_req_path(const httpd_req_t *r);
/* A query-string argument, decoded, or NULL when absent. */
const char *httpd_req_arg(const httpd_req_t *r, const char *key);

/* Answers a GET (or HEAD) on a path other than /metrics and /health, on the
 * HTTP thread: fills body and returns the HTTP status (200, 400, ...) with
 * *content_type set (a static string; text/plain when left NULL), or
 * returns 0 when the path is not its own (then 404). */
typedef unsigned (*httpd_route_fn)(void *arg, const httpd_req_t *req, buf_t *body,
                                   const char **content_type);

/* httpd_start with a route callback (route may be NULL). */
httpd_t *httpd_start_routes(const char *bind_addr, int port, metrics_t *m,
                            httpd_health_fn health, void *arg, httpd_route_fn route,
                            void *route_arg, char *errbuf, size_t errsize);

/* The port actually bound (useful after asking for port 0). */
int httpd_port(const httpd_t *h);

/* Stops serving (waits for the request in progress), closes the socket and
 * frees h. Accepts NULL. */
void httpd_stop(httpd_t *h);

#endif
