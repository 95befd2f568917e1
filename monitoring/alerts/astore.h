/*
 * astore.h - ecom-alerts in PostgreSQL (sql/metrics.sql): the alert set
 * (alert_state) loaded on start and saved after every round together with
 * the round's notifications (alert_notifications, an outbox), in one
 * transaction; then the undelivered notifications read back for delivery
 * and marked per channel.
 */
#ifndef ECOM_ASTORE_H
#define ECOM_ASTORE_H

#include "astate.h"
#include "rules.h"

#include <libpq-fe.h>

/* One notification to deliver, as stored. */
typedef struct {
    long long id;
    char event[16];
    char rule[64], key[256], severity[16];
    char labels[1200]; /* the rule's and the instance's, merged */
    char summary[256];
    double value;
    int64_t active_since, created_at; /* epoch ms */
    int webhook_done, alertmanager_done, attempts;
} anote_t;

/* Replaces s with alert_state. 0, or -1 with err. */
int astore_load(PGconn *conn, ast_set_t *s, int timeout_ms, char *err, size_t errsize);

/* Saves s and inserts one notification per event (rules give severity and
 * labels; has_webhook/has_am say which channels are owed), in one
 * transaction. 0, or -1 with err (rolled back). */
int astore_save(PGconn *conn, const ast_set_t *s, const ast_event_t *ev, int nev, const rules_t *rules,
                int has_webhook, int has_am, int timeout_ms, char *err, size_t errsize);

/* Up to max undelivered notifications, oldest first. Returns how many, or -1. */
int astore_pending(PGconn *conn, anote_t *out, int max, int timeout_ms, char *err, size_t errsize);
/* Records a delivery attempt: channels done, the error (NULL if none), and
 * delivered_at when both are done or give_up. 0, or -1. */
int astore_mark(PGconn *conn, const anote_t *n, const char *error, int give_up, int timeout_ms, char *err,
                size_t errsize);

#endif
