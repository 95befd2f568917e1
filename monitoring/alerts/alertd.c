/*
 * alertd.c - ecom-alerts' rounds (see alertd.h).
 */
#include "alertd.h"
#include "astore.h"
#include "db.h"
#include "elog.h"
#include "eval.h"
#include "notify.h"
#include "term.h"
#include "ts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 256
#define MAX_PENDING 64

struct alertd {
    alertd_conf_t conf;
    db_lazy_t db;
    hget_t *http;
    ast_set_t set;
    int loaded;
    ast_event_t *events;
    anote_t *notes;
    metrics_counter_t *m_rounds, *m_fired, *m_repeated, *m_resolved, *m_delivered, *m_delivery_failures,
        *m_eval_failures;
    metrics_gauge_t *m_firing, *m_pending;
    atomic_llong last_round_ms; /* monotonic; 0 before the first */
    atomic_int store_ok;
};

alertd_t *alertd_new(const alertd_conf_t *conf, metrics_t *m)
{
    alertd_t *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->conf = *conf;
    ast_init(&a->set);
    if (db_lazy_init(&a->db, conf->conninfo, "ecom-alerts") != 0) {
        free(a);
        return NULL;
    }
    a->http = hget_new(64 * 1024);
    a->events = calloc(MAX_EVENTS, sizeof(*a->events));
    a->notes = calloc(MAX_PENDING, sizeof(*a->notes));
    if (a->http == NULL || a->events == NULL || a->notes == NULL) {
        alertd_free(a);
        return NULL;
    }
    a->m_rounds = metrics_counter(m, "rounds_total", "evaluation rounds", METRICS_NO_LABELS);
    a->m_fired = metrics_counter(m, "notifications_total", "notifications created", "event=\"firing\"");
    a->m_repeated = metrics_counter(m, "notifications_total", "notifications created", "event=\"repeat\"");
    a->m_resolved = metrics_counter(m, "notifications_total", "notifications created", "event=\"resolved\"");
    a->m_delivered = metrics_counter(m, "deliveries_total", "notifications delivered to every channel",
                                     METRICS_NO_LABELS);
    a->m_delivery_failures = metrics_counter(m, "delivery_failures_total", "delivery attempts that failed",
                                             METRICS_NO_LABELS);
    a->m_eval_failures = metrics_counter(m, "evaluation_failures_total", "rule evaluations whose source failed",
                                         METRICS_NO_LABELS);
    a->m_firing = metrics_gauge(m, "alerts", "alerts by state", "state=\"firing\"");
    a->m_pending = metrics_gauge(m, "alerts", "alerts by state", "state=\"pending\"");
    return a;
}

void alertd_free(alertd_t *a)
{
    if (a == NULL)
        return;
    db_lazy_free(&a->db);
    hget_free(a->http);
    ast_free(&a->set);
    free(a->events);
    free(a->notes);
    free(a);
}

static void drop_conn(alertd_t *a, const char *why)
{
    LOG_WARN("PostgreSQL: %s; connecting again next round", why);
    db_lazy_drop(&a->db);
}

static int connect_and_load(alertd_t *a)
{
    char err[256];

    if (db_lazy_get(&a->db, err, sizeof(err)) == NULL)
        return -1;
    if (!a->loaded) {
        if (astore_load(a->db.conn, &a->set, a->conf.timeout_ms, err, sizeof(err)) != 0) {
            drop_conn(a, err);
            return -1;
        }
        a->loaded = 1;
        LOG_INFO("loaded %zu alerts (pending or firing) from alert_state", a->set.n);
    }
    return 0;
}

static const rule_t *rule_of(const alertd_t *a, const char *name)
{
    for (int i = 0; i < a->conf.rules.n; i++)
        if (strcmp(a->conf.rules.v[i].name, name) == 0)
            return &a->conf.rules.v[i];
    return NULL;
}

/* Delivers what the outbox holds. */
static void deliver(alertd_t *a)
{
    char err[256];
    int n = astore_pending(a->db.conn, a->notes, MAX_PENDING, a->conf.timeout_ms, err, sizeof(err));

    if (n < 0) {
        drop_conn(a, err);
        return;
    }
    for (int i = 0; i < n && !term_requested(); i++) {
        anote_t *no = &a->notes[i];
        const rule_t *r = rule_of(a, no->rule);
        char why[256] = "";
        int give_up;
        buf_t body;

        buf_init(&body);
        if (!no->webhook_done && a->conf.webhook_url != NULL) {
            notify_webhook_json(no, &body);
            no->webhook_done = !body.oom && notify_post(a->http, a->conf.webhook_url, body.data, a->conf.tries,
                                                        a->conf.timeout_ms, why, sizeof(why)) == 0;
            if (!no->webhook_done)
                LOG_WARN("webhook %s: notification %lld not delivered: %s", a->conf.webhook_url, no->id, why);
        }
        buf_reset(&body);
        if (!no->alertmanager_done && a->conf.am_url != NULL) {
            char url[600], amwhy[256] = "";

            snprintf(url, sizeof(url), "%s/api/v2/alerts", a->conf.am_url);
            notify_alertmanager_json(no, ts_now_ms(), r != NULL ? r->repeat_ms : 3600000, &body);
            no->alertmanager_done = !body.oom && notify_post(a->http, url, body.data, a->conf.tries,
                                                             a->conf.timeout_ms, amwhy, sizeof(amwhy)) == 0;
            if (!no->alertmanager_done) {
                LOG_WARN("Alertmanager %s: notification %lld not delivered: %s", a->conf.am_url, no->id, amwhy);
                snprintf(why, sizeof(why), "alertmanager: %s", amwhy);
            }
        }
        buf_free(&body);
        give_up = !(no->webhook_done && no->alertmanager_done) && no->attempts + 1 >= a->conf.max_attempts;
        if (give_up)
            LOG_ERROR("notification %lld (%s %s): giving up after %d attempts", no->id, no->event, no->rule,
                      no->attempts + 1);
        if (no->webhook_done && no->alertmanager_done)
            metrics_counter_inc(a->m_delivered);
        else
            metrics_counter_inc(a->m_delivery_failures);
        if (astore_mark(a->db.conn, no, why[0] != '\0' ? why : NULL, give_up, a->conf.timeout_ms, err, sizeof(err)) != 0) {
            drop_conn(a, err);
            return;
        }
    }
}

static void round_once(alertd_t *a)
{
    int64_t now = ts_now_ms();
    ast_alert_t *saved = NULL;
    size_t nsaved = a->set.n;
    int nev = 0, firing = 0;
    char err[256];

    if (connect_and_load(a) != 0) {
        atomic_store(&a->store_ok, 0);
        return;
    }
    saved = malloc((nsaved + 1) * sizeof(*saved));
    if (saved == NULL)
        return;
    if (nsaved > 0)
        memcpy(saved, a->set.v, nsaved * sizeof(*saved));
    for (int i = 0; i < a->conf.rules.n && !term_requested(); i++) {
        const rule_t *r = &a->conf.rules.v[i];
        int ok = eval_rule(r, a->db.conn, a->http, &a->set, now, a->conf.timeout_ms, err, sizeof(err)) == 0;

        if (!ok) {
            metrics_counter_inc(a->m_eval_failures);
            LOG_DEBUG("rule %s: not evaluated: %s", r->name, err);
            /* Lost, or still inside a statement that missed its deadline. */
            if (a->db.conn != NULL &&
                (PQstatus(a->db.conn) != CONNECTION_OK || PQtransactionStatus(a->db.conn) == PQTRANS_ACTIVE))
                drop_conn(a, err);
        }
        nev += ast_end(&a->set, r->name, ok, r->for_ms, r->repeat_ms, now, a->events + nev, MAX_EVENTS - nev);
    }
    if (a->db.conn == NULL || astore_save(a->db.conn, &a->set, a->events, nev, &a->conf.rules, a->conf.webhook_url != NULL,
                                       a->conf.am_url != NULL, a->conf.timeout_ms, err, sizeof(err)) != 0) {
        /* Undo the round: the same events come again next round. */
        if (nsaved > 0)
            memcpy(a->set.v, saved, nsaved * sizeof(*saved));
        a->set.n = nsaved;
        if (a->db.conn != NULL)
            drop_conn(a, err);
        atomic_store(&a->store_ok, 0);
        free(saved);
        return;
    }
    free(saved);
    for (int i = 0; i < nev; i++) {
        const ast_alert_t *al = &a->events[i].alert;
        LOG_WARN("ALERT %s %s [%s]: %s", ast_event_name(a->events[i].kind), al->rule, al->key, al->summary);
        metrics_counter_inc(a->events[i].kind == AST_FIRED      ? a->m_fired
                            : a->events[i].kind == AST_REPEATED ? a->m_repeated
                                                                : a->m_resolved);
    }
    for (size_t i = 0; i < a->set.n; i++)
        firing += a->set.v[i].state == AST_FIRING;
    metrics_gauge_set(a->m_firing, firing);
    metrics_gauge_set(a->m_pending, (double)a->set.n - firing);
    atomic_store(&a->store_ok, 1);
    deliver(a);
}

void alertd_run(alertd_t *a)
{
    int64_t next = ts_monotonic_ms(), rounds = 0;

    while (!term_requested() && (a->conf.max_rounds == 0 || rounds < a->conf.max_rounds)) {
        int64_t now = ts_monotonic_ms();

        if (now < next) {
            ts_sleep_until_us(next * 1000, 100);
            continue;
        }
        next = (next + a->conf.interval_ms > now) ? next + a->conf.interval_ms : now + a->conf.interval_ms;
        round_once(a);
        rounds++;
        metrics_counter_inc(a->m_rounds);
        atomic_store(&a->last_round_ms, ts_monotonic_ms());
    }
}

int alertd_health(void *arg, char *detail, size_t size)
{
    alertd_t *a = arg;
    long long last = atomic_load(&a->last_round_ms);
    int64_t age = last != 0 ? ts_monotonic_ms() - last : -1;
    int store_ok = atomic_load(&a->store_ok);

    if (age < 0)
        snprintf(detail, size, "no round yet");
    else if (!store_ok)
        snprintf(detail, size, "PostgreSQL down: alerts neither evaluated from it nor saved");
    else
        snprintf(detail, size, "last round %lld ms ago", (long long)age);
    return age >= 0 && store_ok && age <= 3 * a->conf.interval_ms + 10 * a->conf.timeout_ms;
}
