/*
 * api.h - ecom-metrics' HTTP API beside /metrics and /health, on the HTTP
 * thread (httpd_route_fn):
 *   GET /api/latest   the last round: every source up or down, its error
 *                     and its samples (from memory)
 *   GET /api/series?name=N[&source=S][&match={"k":"v"}][&since=SECONDS][&step=SECONDS]
 *                     stored points of metric N (PostgreSQL), default the
 *                     last 3600 s, each point as [epoch ms, value]
 * and the dashboard (dash.h: /, /static/, /vendor/, /api/shop).
 * Answers are JSON; a bad argument is 400 with {"error": "..."}; the store
 * unreachable is 503. Owns the HTTP thread's own PostgreSQL connection.
 */
#ifndef ECOM_API_H
#define ECOM_API_H

#include "coll.h"
#include "dash.h"
#include "httpd.h"

typedef struct api api_t;

api_t *api_new(coll_t *coll, const char *conninfo, int timeout_ms, const dash_conf_t *dash);
void api_free(api_t *a);

unsigned api_route(void *arg, const httpd_req_t *req, buf_t *body, const char **content_type);

#endif
