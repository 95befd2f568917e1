/*
 * coll.c - the collector's rounds (see coll.h): its sources, one scrape
 * function per kind, the store, the snapshot and the collector's own
 * metrics.
 */
#include "coll.h"
#include "elog.h"
#include "httpget.h"
#include "js.h"
#include "kafkamon.h"
#include "pgmon.h"
#include "promtext.h"
#include "term.h"
#include "ts.h"
#include "tsdb.h"
#include "webmon.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRE_EVERY_MS 60000
#define KAFKAUI_MAX_PAGES 20
#define MAX_PENDING 2048 /* scrape rows kept while the store is down */

typedef enum { SRC_KAFKA, SRC_PG, SRC_PROM, SRC_KAFKAUI, SRC_SPARK } src_kind_t;

typedef struct {
    char name[64];
    src_kind_t kind;
    const char *url; /* borrowed from the conf */
    smp_set_t samples;
    int up;
    double duration_ms;
    char error[256];
    metrics_gauge_t *m_up, *m_duration, *m_samples;
    metrics_counter_t *m_scrapes, *m_failures;
} source_t;

struct coll {
    coll_conf_t conf;
    rd_kafka_t *rk;
    pgmon_t *pg;
    tsdb_t *store;
    hget_t *http;
    buf_t body;
    source_t src[COLL_MAX_TARGETS + 4];
    int nsrc;
    int64_t last_expire;
    tsdb_scrape_row_t *pending; /* outcomes of rounds not stored, oldest first */
    int npending;
    metrics_counter_t *m_rounds, *m_points, *m_store_failures, *m_expired;
    metrics_gauge_t *m_store_up, *m_round_seconds;
    pthread_mutex_t lock; /* guards the three below */
    char *latest;         /* JSON of the last round */
    int store_ok;
    int64_t last_round_ms; /* monotonic */
};

int coll_parse_target(const char *arg, coll_target_t *t)
{
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg) : 0;

    if (eq == NULL || n == 0 || n >= sizeof(t->name) || strlen(eq + 1) >= sizeof(t->url) ||
        (strncmp(eq + 1, "http://", 7) != 0 && strncmp(eq + 1, "https://", 8) != 0))
        return -1;
    memcpy(t->name, arg, n);
    t->name[n] = '\0';
    snprintf(t->url, sizeof(t->url), "%s", eq + 1);
    return 0;
}

static void add_source(coll_t *c, const char *name, src_kind_t kind, const char *url, metrics_t *m)
{
    source_t *s = &c->src[c->nsrc++];

    snprintf(s->name, sizeof(s->name), "%s", name);
    s->kind = kind;
    s->url = url;
    smp_init(&s->samples);
    s->m_up = metrics_gauge(m, "source_up", "1 when the source's last scrape worked", "source=\"%s\"", name);
    s->m_duration = metrics_gauge(m, "scrape_duration_seconds", "how long the source's last scrape took",
                                  "source=\"%s\"", name);
    s->m_samples = metrics_gauge(m, "scrape_samples", "samples the source's last scrape yielded",
                                 "source=\"%s\"", name);
    s->m_scrapes = metrics_counter(m, "scrapes_total", "scrapes of the source", "source=\"%s\"", name);
    s->m_failures = metrics_counter(m, "scrape_failures_total", "scrapes of the source that failed",
                                    "source=\"%s\"", name);
}

coll_t *coll_new(const coll_conf_t *conf, rd_kafka_t *rk, metrics_t *m)
{
    coll_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->conf = *conf;
    c->rk = rk;
    buf_init(&c->body);
    pthread_mutex_init(&c->lock, NULL);
    c->pg = pgmon_new(conf->conninfo, "ecom-metrics");
    c->store = tsdb_new(conf->conninfo, "ecom-metrics");
    c->http = hget_new((size_t)conf->max_bytes);
    c->pending = malloc(MAX_PENDING * sizeof(*c->pending));
    if (c->pg == NULL || c->store == NULL || c->http == NULL || c->pending == NULL) {
        coll_free(c);
        return NULL;
    }
    if (rk != NULL)
        add_source(c, "kafka", SRC_KAFKA, NULL, m);
    add_source(c, "postgres", SRC_PG, NULL, m);
    for (int i = 0; i < conf->ntargets; i++)
        add_source(c, c->conf.targets[i].name, SRC_PROM, c->conf.targets[i].url, m);
    if (conf->kafka_ui_url != NULL)
        add_source(c, "kafka-ui", SRC_KAFKAUI, conf->kafka_ui_url, m);
    if (conf->spark_url != NULL)
        add_source(c, "spark", SRC_SPARK, conf->spark_url, m);
    c->m_rounds = metrics_counter(m, "rounds_total", "rounds of scrapes", METRICS_NO_LABELS);
    c->m_points = metrics_counter(m, "points_stored_total", "points written to PostgreSQL", METRICS_NO_LABELS);
    c->m_store_failures = metrics_counter(m, "store_failures_total", "rounds whose points could not be stored",
                                          METRICS_NO_LABELS);
    c->m_expired = metrics_counter(m, "expired_rows_total", "points and scrape rows deleted past the retention",
                                   METRICS_NO_LABELS);
    c->m_store_up = metrics_gauge(m, "store_up", "1 when the last round was stored", METRICS_NO_LABELS);
    c->m_round_seconds = metrics_gauge(m, "round_duration_seconds", "how long the last round took",
                                       METRICS_NO_LABELS);
    return c;
}

void coll_free(coll_t *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->nsrc; i++)
        smp_free(&c->src[i].samples);
    pgmon_free(c->pg);
    tsdb_free(c->store);
    hget_free(c->http);
    buf_free(&c->body);
    free(c->pending);
    free(c->latest);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static long left_ms(int64_t deadline)
{
    int64_t left = deadline - ts_monotonic_ms();
    return left > 1 ? (long)left : 1;
}

/* GET base+path into c->body; 0 on a 2xx, else -1 with err set. */
static int get(coll_t *c, const char *base, const char *path, int64_t deadline, char *err, size_t errsize)
{
    buf_t url;
    int status;

    buf_init(&url);
    buf_puts(&url, base);
    if (url.len > 0 && url.data[url.len - 1] == '/' && path[0] == '/')
        url.len--, url.data[url.len] = '\0';
    buf_puts(&url, path);
    if (url.oom) {
        snprintf(err, errsize, "out of memory");
        buf_free(&url);
        return -1;
    }
    status = hget_get(c->http, url.data, left_ms(deadline), &c->body, err, errsize);
    if (status >= 200 && status <= 299)
        status = 0;
    else
        LOG_DEBUG("GET %s: %s", url.data, err);
    buf_free(&url);
    return status == 0 ? 0 : -1;
}

static int scrape_prom(coll_t *c, source_t *s, int64_t deadline, char *err, size_t errsize)
{
    prom_stats_t st;

    if (get(c, s->url, "", deadline, err, errsize) != 0)
        return -1;
    if (prom_parse(c->body.data != NULL ? c->body.data : "", c->body.len, c->conf.keep_buckets, &s->samples, &st) != 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (st.bad_lines > 0)
        snprintf(err, errsize, "%zu malformed lines skipped, the first at line %d: %s", st.bad_lines, st.first_bad,
                 st.why);
    if (st.samples == 0 && st.bad_lines > 0)
        return -1; /* not the text format at all */
    return 0;
}

/* Pages of a Kafka UI list (topics or consumer groups) for one cluster. */
static int scrape_pages(coll_t *c, source_t *s, const char *cluster, const char *what, int64_t deadline,
                        int (*parse)(const char *, size_t, const char *, smp_set_t *, char *, size_t), char *err,
                        size_t errsize)
{
    int pages = 1;

    for (int page = 1; page <= pages && page <= KAFKAUI_MAX_PAGES; page++) {
        buf_t path;
        int rc;

        buf_init(&path);
        buf_puts(&path, "/api/clusters/");
        hget_escape(c->http, cluster, &path);
        buf_printf(&path, "/%s?page=%d&perPage=100", what, page);
        rc = path.oom ? -1 : get(c, s->url, path.data, deadline, err, errsize);
        buf_free(&path);
        if (rc != 0)
            return -1;
        pages = parse(c->body.data, c->body.len, cluster, &s->samples, err, errsize);
        if (pages < 0)
            return -1;
    }
    return 0;
}

static int scrape_kafkaui(coll_t *c, source_t *s, int64_t deadline, char *err, size_t errsize)
{
    char *names[WEB_MAX_CLUSTERS];
    int n, rc = 0;

    if (get(c, s->url, "/api/clusters", deadline, err, errsize) != 0)
        return -1;
    n = web_kafkaui_clusters(c->body.data, c->body.len, names, WEB_MAX_CLUSTERS, &s->samples, err, errsize);
    for (int i = 0; i < n; i++) {
        if (rc == 0)
            rc = scrape_pages(c, s, names[i], "topics", deadline, web_kafkaui_topics, err, errsize);
        if (rc == 0)
            rc = scrape_pages(c, s, names[i], "consumer-groups/paged", deadline, web_kafkaui_groups, err, errsize);
        free(names[i]);
    }
    return n < 0 ? -1 : rc;
}

static int scrape_spark(coll_t *c, source_t *s, int64_t deadline, char *err, size_t errsize)
{
    if (get(c, s->url, "/json/", deadline, err, errsize) != 0)
        return -1;
    return web_spark_master(c->body.data, c->body.len, &s->samples, err, errsize);
}

static void scrape(coll_t *c, source_t *s)
{
    int64_t t0 = ts_monotonic_us(), deadline = ts_monotonic_ms() + c->conf.timeout_ms;
    int rc = -1, partial = 0;

    smp_reset(&s->samples);
    s->error[0] = '\0';
    switch (s->kind) {
    case SRC_KAFKA:
        rc = kmon_scrape(c->rk, (int)c->conf.timeout_ms, &s->samples, &partial, s->error, sizeof(s->error));
        if (rc == 0 && partial > 0)
            snprintf(s->error, sizeof(s->error), "%d partitions or groups could not be read (see the log)", partial);
        break;
    case SRC_PG:
        rc = pgmon_scrape(c->pg, (int)c->conf.timeout_ms, &s->samples, s->error, sizeof(s->error));
        break;
    case SRC_PROM:
        rc = scrape_prom(c, s, deadline, s->error, sizeof(s->error));
        break;
    case SRC_KAFKAUI:
        rc = scrape_kafkaui(c, s, deadline, s->error, sizeof(s->error));
        break;
    case SRC_SPARK:
        rc = scrape_spark(c, s, deadline, s->error, sizeof(s->error));
        break;
    }
    if (rc == 0 && s->samples.oom) {
        rc = -1;
        snprintf(s->error, sizeof(s->error), "out of memory");
    }
    if (rc != 0)
        smp_reset(&s->samples); /* a failed scrape stores no half figures */
    s->duration_ms = (double)(ts_monotonic_us() - t0) / 1000.0;
    if (rc != 0 && s->up)
        LOG_WARN("source %s is down: %s", s->name, s->error);
    else if (rc == 0 && !s->up && metrics_counter_value(s->m_scrapes) > 0)
        LOG_INFO("source %s is up again", s->name);
    s->up = rc == 0;
    metrics_counter_inc(s->m_scrapes);
    if (!s->up)
        metrics_counter_inc(s->m_failures);
    metrics_gauge_set(s->m_up, s->up);
    metrics_gauge_set(s->m_duration, s->duration_ms / 1000.0);
    metrics_gauge_set(s->m_samples, (double)s->samples.n);
}

/* The round as JSON: {"ts":ms,"sources":[{...,"samples":[...]}]}. */
static char *snapshot(const coll_t *c, int64_t ts_ms)
{
    js_writer_t w;

    buf_init(&w);
    js_begin_object(&w);
    js_kv_int(&w, "ts", ts_ms);
    js_key(&w, "sources");
    js_begin_array(&w);
    for (int i = 0; i < c->nsrc; i++) {
        const source_t *s = &c->src[i];

        js_begin_object(&w);
        js_kv_string(&w, "source", s->name);
        js_key(&w, "up");
        js_raw(&w, s->up ? "true" : "false");
        js_key(&w, "duration_ms");
        js_double(&w, s->duration_ms);
        js_key(&w, "error");
        if (s->error[0] != '\0')
            js_string(&w, s->error);
        else
            js_null(&w);
        js_key(&w, "samples");
        js_begin_array(&w);
        for (size_t k = 0; k < s->samples.n; k++) {
            js_begin_object(&w);
            js_kv_string(&w, "name", s->samples.v[k].name);
            js_key(&w, "labels");
            js_raw(&w, s->samples.v[k].labels);
            js_key(&w, "value");
            js_double(&w, s->samples.v[k].value);
            js_end_object(&w);
        }
        js_end_array(&w);
        js_end_object(&w);
    }
    js_end_array(&w);
    js_end_object(&w);
    if (w.oom) {
        buf_free(&w);
        return NULL;
    }
    return w.data;
}

/* Keeps the round's outcomes for later (the oldest dropped when full). */
static void keep_pending(coll_t *c, int64_t ts_ms)
{
    for (int i = 0; i < c->nsrc; i++) {
        const source_t *s = &c->src[i];
        tsdb_scrape_row_t *r;

        if (c->npending == MAX_PENDING) {
            memmove(c->pending, c->pending + 1, (MAX_PENDING - 1) * sizeof(*c->pending));
            c->npending--;
        }
        r = &c->pending[c->npending++];
        *r = (tsdb_scrape_row_t){.ts_ms = ts_ms, .up = s->up, .duration_ms = s->duration_ms, .samples = s->samples.n};
        snprintf(r->source, sizeof(r->source), "%s", s->name);
        snprintf(r->error, sizeof(r->error), "%s", s->error);
    }
}

static void store_pending(coll_t *c)
{
    char err[256];

    if (c->npending == 0)
        return;
    if (tsdb_write_scrape_rows(c->store, c->pending, c->npending, (int)c->conf.timeout_ms, err, sizeof(err)) != 0) {
        LOG_WARN("outcomes of %d earlier scrapes not stored yet: %s", c->npending, err);
        return;
    }
    LOG_INFO("stored the outcomes of %d scrapes made while the store was down", c->npending);
    c->npending = 0;
}

int coll_round(coll_t *c)
{
    int64_t t0 = ts_monotonic_ms(), ts_ms = ts_now_ms();
    tsdb_scrape_t rows[COLL_MAX_TARGETS + 4];
    char err[256];
    long long points;
    char *json;
    int down = 0;

    for (int i = 0; i < c->nsrc && !term_requested(); i++) {
        source_t *s = &c->src[i];

        scrape(c, s);
        down += !s->up;
        rows[i] = (tsdb_scrape_t){s->name, s->up, s->duration_ms, s->error[0] != '\0' ? s->error : NULL,
                                  &s->samples};
    }
    points = tsdb_write(c->store, ts_ms, rows, c->nsrc, (int)c->conf.timeout_ms, err, sizeof(err));
    if (points < 0) {
        metrics_counter_inc(c->m_store_failures);
        if (c->store_ok || c->last_round_ms == 0) /* said once per outage */
            LOG_WARN("the store is down, rounds are not stored: %s", err);
        keep_pending(c, ts_ms);
    } else {
        metrics_counter_add(c->m_points, (uint64_t)points);
        if (!c->store_ok && c->last_round_ms != 0)
            LOG_INFO("the store is back");
        store_pending(c);
    }
    metrics_gauge_set(c->m_store_up, points >= 0);
    metrics_counter_inc(c->m_rounds);
    metrics_gauge_set(c->m_round_seconds, (double)(ts_monotonic_ms() - t0) / 1000.0);
    json = snapshot(c, ts_ms);
    pthread_mutex_lock(&c->lock);
    if (json != NULL) {
        free(c->latest);
        c->latest = json;
    }
    c->store_ok = points >= 0;
    c->last_round_ms = ts_monotonic_ms();
    pthread_mutex_unlock(&c->lock);
    return down;
}

void coll_run(coll_t *c)
{
    int64_t next = ts_monotonic_ms(), rounds = 0;

    c->last_expire = next - EXPIRE_EVERY_MS; /* the first round expires too */
    while (!term_requested() && (c->conf.max_rounds == 0 || rounds < c->conf.max_rounds)) {
        int64_t now = ts_monotonic_ms();
        char err[256];
        long long n;

        if (now < next) {
            ts_sleep_until_us(next * 1000, 100); /* the signal flag checked every 100 ms */
            continue;
        }
        next += c->conf.interval_ms;
        if (next < now) /* a round overran: start again from now */
            next = now + c->conf.interval_ms;
        coll_round(c);
        rounds++;
        if (ts_monotonic_ms() - c->last_expire >= EXPIRE_EVERY_MS) {
            c->last_expire = ts_monotonic_ms();
            n = tsdb_expire(c->store, c->conf.retention_s, (int)c->conf.timeout_ms, err, sizeof(err));
            if (n < 0)
                LOG_WARN("retention: %s", err);
            else
                metrics_counter_add(c->m_expired, (uint64_t)n);
        }
    }
}

void coll_latest_json(coll_t *c, buf_t *out)
{
    pthread_mutex_lock(&c->lock);
    buf_puts(out, c->latest != NULL ? c->latest : "{\"ts\":null,\"sources\":[]}");
    pthread_mutex_unlock(&c->lock);
}

int coll_health(void *arg, char *detail, size_t size)
{
    coll_t *c = arg;
    int64_t age;
    int ok, store_ok;
    size_t used = 0;

    pthread_mutex_lock(&c->lock);
    store_ok = c->store_ok;
    age = c->last_round_ms != 0 ? ts_monotonic_ms() - c->last_round_ms : -1;
    pthread_mutex_unlock(&c->lock);
    /* Healthy: a round within three intervals, and it was stored. */
    ok = age >= 0 && age <= 3 * c->conf.interval_ms + c->conf.timeout_ms * c->nsrc && store_ok;
    if (age < 0)
        used += (size_t)snprintf(detail, size, "no round yet");
    else if (!store_ok)
        used += (size_t)snprintf(detail, size, "store down");
    else
        used += (size_t)snprintf(detail, size, "last round %lld ms ago", (long long)age);
    for (int i = 0; i < c->nsrc && used < size; i++) /* up is an int: a torn read is impossible */
        if (!c->src[i].up && age >= 0)
            used += (size_t)snprintf(detail + used, size - used, "%s%s down", i >= 0 ? ", " : "", c->src[i].name);
    return ok;
}
