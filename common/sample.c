/*
 * sample.c - sets of samples with canonical JSON labels (see sample.h).
 * jansson builds and sorts the label objects.
 */
#include "sample.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAIRS 16

void smp_init(smp_set_t *s) { memset(s, 0, sizeof(*s)); }

void smp_reset(smp_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].labels);
    }
    s->n = 0;
    s->oom = 0;
}

void smp_free(smp_set_t *s)
{
    smp_reset(s);
    free(s->v);
    smp_init(s);
}

char *smp_labels(size_t npairs, const char *const *keys, const char *const *vals)
{
    json_t *o = json_object();
    char *text = NULL;

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < npairs; i++)
        if (json_object_set_new(o, keys[i], json_string(vals[i])) != 0)
            goto out;
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(o);
    return text;
}

/* Takes labels (malloc'ed, may be NULL after a failure). */
static void add_owned(smp_set_t *s, const char *name, char *labels, double value)
{
    char *n = NULL;

    if (s->oom || labels == NULL || (n = strdup(name)) == NULL)
        goto fail;
    if (s->n == s->cap) {
        size_t cap = s->cap != 0 ? 2 * s->cap : 64;
        smp_t *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL)
            goto fail;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (smp_t){n, labels, value};
    return;
fail:
    free(n);
    free(labels);
    s->oom = 1;
}

void smp_add(smp_set_t *s, const char *name, const char *labels, double value)
{
    add_owned(s, name, strdup(labels != NULL ? labels : "{}"), value);
}

/* The canonical labels of npairs key, value string pairs read from ap
 * (malloc'ed), or NULL when too many or out of memory. */
static char *labels_of(int npairs, va_list ap)
{
    const char *keys[MAX_PAIRS], *vals[MAX_PAIRS];

    if (npairs < 0 || npairs > MAX_PAIRS)
        return NULL;
    for (int i = 0; i < npairs; i++) {
        keys[i] = va_arg(ap, const char *);
        vals[i] = va_arg(ap, const char *);
    }
    return smp_labels((size_t)npairs, keys, vals);
}

void smp_addv(smp_set_t *s, const char *name, double value, int npairs, ...)
{
    char *labels;
    va_list ap;

    va_start(ap, npairs);
    labels = labels_of(npairs, ap);
    va_end(ap);
    add_owned(s, name, labels, value);
}

const smp_t *smp_find(const smp_set_t *s, const char *name, const char *labels)
{
    if (labels == NULL)
        labels = "{}";
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0 && strcmp(s->v[i].labels, labels) == 0)
            return &s->v[i];
    return NULL;
}

double smp_get(const smp_set_t *s, const char *name, double def, int npairs, ...)
{
    const smp_t *hit = NULL;
    char *labels;
    va_list ap;

    va_start(ap, npairs);
    labels = labels_of(npairs, ap);
    va_end(ap);
    if (labels != NULL)
        hit = smp_find(s, name, labels);
    free(labels);
    return hit != NULL ? hit->value : def;
}
