/*
 * api.c - the collector's JSON endpoints (see api.h). Arguments are
 * checked here; the queries are tsdb.c's, with parameters.
 */
#include "api.h"
#include "config.h"
#include "js.h"
#include "tsdb.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TYPE "application/json"

struct api {
    coll_t *coll;
    tsdb_t *db;
    int timeout_ms;
    dash_conf_t dash;
};

api_t *api_new(coll_t *coll, const char *conninfo, int timeout_ms, const dash_conf_t *dash)
{
    api_t *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->coll = coll;
    a->timeout_ms = timeout_ms;
    a->dash = *dash;
    if ((a->db = tsdb_new(conninfo, "ecom-metrics-api")) == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

void api_free(api_t *a)
{
    if (a == NULL)
        return;
    tsdb_free(a->db);
    free(a);
}

static unsigned error(buf_t *body, unsigned status, const char *msg)
{
    js_writer_t *w = body;

    buf_reset(body);
    js_begin_object(w);
    js_kv_string(w, "error", msg);
    js_end_object(w);
    return status;
}

/* An optional whole-number argument within [min, max]; -1 when bad. */
static int int_arg(const httpd_req_t *r, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out)
{
    const char *v = httpd_req_arg(r, key);

    *out = def;
    return v == NULL ? 0 : config_parse_int64(v, min, max, out);
}

static unsigned series(api_t *a, const httpd_req_t *r, buf_t *body)
{
    const char *name = httpd_req_arg(r, "name"), *match = httpd_req_arg(r, "match");
    char err[256];
    int64_t since, step;

    if (name == NULL || name[0] == '\0')
        return error(body, 400, "name: required (a metric name, e.g. kafka_consumergroup_lag)");
    if (int_arg(r, "since", 3600, 1, 90 * 86400, &since) != 0)
        return error(body, 400, "since: seconds, 1 to 7776000");
    if (int_arg(r, "step", 0, 0, 86400, &step) != 0)
        return error(body, 400, "step: seconds, 0 to 86400");
    if (match != NULL) {
        json_t *j = json_loads(match, 0, NULL);
        int ok = json_is_object(j);

        json_decref(j);
        if (!ok)
            return error(body, 400, "match: a JSON object of labels, e.g. {\"topic\":\"user-events\"}");
    }
    if (tsdb_series_json(a->db, name, httpd_req_arg(r, "source"), match, since, step, a->timeout_ms, body, err,
                         sizeof(err)) != 0)
        return error(body, 503, err);
    return 200;
}

unsigned api_route(void *arg, const httpd_req_t *req, buf_t *body, const char **content_type)
{
    api_t *a = arg;
    const char *path = httpd_req_path(req);

    *content_type = JSON_TYPE;
    if (strcmp(path, "/api/latest") == 0) {
        coll_latest_json(a->coll, body);
        return 200;
    }
    if (strcmp(path, "/api/series") == 0)
        return series(a, req, body);
    *content_type = NULL;
    return dash_route(&a->dash, a->db, a->timeout_ms, req, body, content_type);
}
