/*
 * sample.h - what one scrape of one source yields: samples, each a metric
 * name, its labels and a value, the way Prometheus models them.
 *
 * Labels are kept as one canonical JSON object text (keys sorted, compact:
 * {"partition":"0","topic":"user-events"}; "{}" for none), the form the
 * time series take in PostgreSQL (jsonb) and in the HTTP API, so a series
 * is told apart by (name, labels) with a string compare.
 *
 * Appends do not return errors one by one: on a failed allocation the set
 * sets oom and drops every later append, so a caller checks once.
 * Ownership: the set owns every name and label text in it. Pure: no I/O.
 */
#ifndef ECOM_SAMPLE_H
#define ECOM_SAMPLE_H

#include <stddef.h>

typedef struct {
    char *name;
    char *labels; /* canonical JSON object text */
    double value;
} smp_t;

typedef struct {
    smp_t *v;
    size_t n, cap;
    int oom;
} smp_set_t;

void smp_init(smp_set_t *s);
/* Empties the set (keeps its array for reuse) and clears oom. */
void smp_reset(smp_set_t *s);
void smp_free(smp_set_t *s);

/* Adds a sample whose labels are already canonical JSON (or NULL: none). */
void smp_add(smp_set_t *s, const char *name, const char *labels, double value);
/* Adds a sample with npairs label pairs given as key, value strings
 * (npairs 0: none). Values are taken as text. */
void smp_addv(smp_set_t *s, const char *name, double value, int npairs, ...);

/* The canonical JSON text of npairs keys[i] = vals[i] (malloc'ed), or NULL
 * when out of memory. A key given twice keeps its last value. */
char *smp_labels(size_t npairs, const char *const *keys, const char *const *vals);

/* The first sample with this name and labels (NULL labels: "{}"), or NULL. */
const smp_t *smp_find(const smp_set_t *s, const char *name, const char *labels);
/* The value of the sample with this name and label pairs, or def. */
double smp_get(const smp_set_t *s, const char *name, double def, int npairs, ...);

#endif
