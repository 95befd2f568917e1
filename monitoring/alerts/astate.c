/*
 * astate.c - pending, firing, repeated and resolved alerts (see astate.h).
 */
#include "astate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ast_init(ast_set_t *s) { memset(s, 0, sizeof(*s)); }

void ast_free(ast_set_t *s)
{
    free(s->v);
    ast_init(s);
}

const char *ast_event_name(ast_event_kind_t k)
{
    return k == AST_FIRED ? "firing" : k == AST_REPEATED ? "repeat" : "resolved";
}

void ast_begin(ast_set_t *s, const char *rule)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].rule, rule) == 0)
            s->v[i].seen = 0;
}

int ast_observe(ast_set_t *s, const char *rule, const char *key, const char *labels, double value,
                const char *summary, int64_t now)
{
    ast_alert_t *a = NULL;

    for (size_t i = 0; i < s->n && a == NULL; i++)
        if (strcmp(s->v[i].rule, rule) == 0 && strcmp(s->v[i].key, key) == 0)
            a = &s->v[i];
    if (a == NULL) {
        if (s->n == s->cap) {
            size_t cap = s->cap != 0 ? 2 * s->cap : 16;
            ast_alert_t *v = realloc(s->v, cap * sizeof(*v));
            if (v == NULL)
                return -1;
            s->v = v;
            s->cap = cap;
        }
        a = &s->v[s->n++];
        memset(a, 0, sizeof(*a));
        snprintf(a->rule, sizeof(a->rule), "%s", rule);
        snprintf(a->key, sizeof(a->key), "%s", key);
        a->state = AST_PENDING;
        a->active_since = now;
    }
    snprintf(a->labels, sizeof(a->labels), "%s", labels);
    snprintf(a->summary, sizeof(a->summary), "%s", summary);
    a->value = value;
    a->seen = 1;
    return 0;
}

int ast_end(ast_set_t *s, const char *rule, int ok, int64_t for_ms, int64_t repeat_ms, int64_t now,
            ast_event_t *ev, int max)
{
    int n = 0;
    size_t keep = 0;

    for (size_t i = 0; i < s->n; i++) {
        ast_alert_t *a = &s->v[i];
        int drop = 0;

        if (strcmp(a->rule, rule) != 0 || !ok) {
            s->v[keep++] = *a;
            continue;
        }
        if (a->seen && a->state == AST_PENDING && now - a->active_since >= for_ms) {
            if (n < max) {
                a->state = AST_FIRING;
                a->fired_at = a->last_sent = now;
                ev[n++] = (ast_event_t){AST_FIRED, *a};
            }
        } else if (a->seen && a->state == AST_FIRING && now - a->last_sent >= repeat_ms) {
            if (n < max) {
                a->last_sent = now;
                ev[n++] = (ast_event_t){AST_REPEATED, *a};
            }
        } else if (!a->seen && a->state == AST_FIRING) {
            if (n < max) {
                ev[n++] = (ast_event_t){AST_RESOLVED, *a};
                drop = 1;
            }
        } else if (!a->seen) {
            drop = 1; /* pending, gone before it fired */
        }
        if (!drop)
            s->v[keep++] = *a;
    }
    s->n = keep;
    return n;
}
