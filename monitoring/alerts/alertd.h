/*
 * alertd.h - ecom-alerts' rounds: on every interval each rule evaluated
 * (eval.h), the alerts' life decided (astate.h), the state and the new
 * notifications saved in one transaction (astore.h), then every
 * undelivered notification delivered (notify.h). Nothing is evaluated
 * before the saved state is loaded, so a restart never notifies twice;
 * a round whose save fails is undone in memory and done again.
 * Threads: alertd_run on the main thread; the health and metrics are read
 * from the HTTP thread.
 */
#ifndef ECOM_ALERTD_H
#define ECOM_ALERTD_H

#include "metrics.h"
#include "rules.h"

#include <stdint.h>

typedef struct {
    rules_t rules;
    int64_t interval_ms;
    int timeout_ms;          /* one query, one HTTP try */
    const char *conninfo;    /* NULL: PG* */
    const char *webhook_url; /* NULL: none */
    const char *am_url;      /* Alertmanager base URL; NULL: none */
    int tries;               /* per delivery attempt (with backoff) */
    int max_attempts;        /* delivery attempts (one per round) before giving up */
    int64_t max_rounds;      /* 0: until a signal */
} alertd_conf_t;

typedef struct alertd alertd_t;

alertd_t *alertd_new(const alertd_conf_t *conf, metrics_t *m);
void alertd_free(alertd_t *a);
void alertd_run(alertd_t *a);
/* httpd_health_fn */
int alertd_health(void *arg, char *detail, size_t size);

#endif
