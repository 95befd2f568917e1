/*
 * astate.h - the life of ecom-alerts' alerts, decided without clocks or
 * sockets: an instance a rule finds active is pending, fires once it has
 * been active for the rule's for-duration, is notified again every repeat
 * interval while it stays active, and resolves (notified once) when an
 * evaluation no longer finds it. An evaluation that failed (its source
 * down) changes nothing: an alert never resolves because nothing could be
 * read. Pending instances that vanish are dropped silently.
 *
 * The set is what ecom-alerts keeps in PostgreSQL (alert_state) so that a
 * restart neither repeats a notification early nor forgets a firing alert.
 * Ownership: the set owns its array. Pure.
 */
#ifndef ECOM_ASTATE_H
#define ECOM_ASTATE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { AST_PENDING, AST_FIRING } ast_state_t;

typedef struct {
    char rule[64];
    char key[256];     /* the instance within the rule ("ecom-stream", "P001/NYC") */
    char labels[512];  /* the instance's labels, canonical JSON */
    char summary[256];
    double value;
    ast_state_t state;
    int64_t active_since, fired_at, last_sent; /* epoch ms; 0: never */
    int seen;          /* found by the evaluation in progress */
} ast_alert_t;

typedef struct {
    ast_alert_t *v;
    size_t n, cap;
} ast_set_t;

typedef enum { AST_FIRED, AST_REPEATED, AST_RESOLVED } ast_event_kind_t;

typedef struct {
    ast_event_kind_t kind;
    ast_alert_t alert; /* a copy: a resolved alert leaves the set */
} ast_event_t;

void ast_init(ast_set_t *s);
void ast_free(ast_set_t *s);

/* An evaluation of rule begins: its instances are marked unseen. */
void ast_begin(ast_set_t *s, const char *rule);
/* The evaluation found key active with these labels, value and summary.
 * Returns 0, or -1 when out of memory. */
int ast_observe(ast_set_t *s, const char *rule, const char *key, const char *labels, double value,
                const char *summary, int64_t now);
/* The evaluation of rule ended (ok: it could read its source). Appends what
 * is to be notified to ev (at most max; the count is returned) and updates
 * the set: fired and repeated alerts get last_sent = now. */
int ast_end(ast_set_t *s, const char *rule, int ok, int64_t for_ms, int64_t repeat_ms, int64_t now,
            ast_event_t *ev, int max);

const char *ast_event_name(ast_event_kind_t k);

#endif
