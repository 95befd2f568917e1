/*
 * promtext.h - reading the Prometheus text exposition format 0.0.4 (what
 * the daemons' /metrics serve) into samples.
 *
 * A sample line is: name[{label="value",...}] value [timestamp]. # lines
 * (HELP, TYPE, comments) and blank lines are skipped; label values take
 * the \\, \" and \n escapes; values are floats, NaN, +Inf or -Inf; the
 * timestamp is ignored (the collector stamps samples with its scrape time).
 * Histogram buckets (names ending in _bucket) are left out unless asked
 * for: they multiply the series and the dashboard reads _sum and _count.
 * A line that does not parse is counted and skipped, never fatal: one
 * daemon's bad line must not cost the rest. Pure: no I/O.
 */
#ifndef ECOM_PROMTEXT_H
#define ECOM_PROMTEXT_H

#include "sample.h"

#include <stddef.h>

typedef struct {
    size_t samples;   /* added to the set */
    size_t skipped;   /* buckets left out */
    size_t bad_lines; /* malformed, skipped */
    int first_bad;    /* line number of the first malformed line, 0 if none */
    char why[96];     /* what was wrong with it */
} prom_stats_t;

/* Parses text[0..len) into out (appending). Returns 0, or -1 when out ran
 * out of memory. */
int prom_parse(const char *text, size_t len, int keep_buckets, smp_set_t *out,
               prom_stats_t *st);

#endif
