/*
 * metrics.h - a daemon's counters, gauges and histograms, rendered in the
 * Prometheus text exposition format 0.0.4 (served by httpd.h).
 *
 * Model: a family has a name (the registry's prefix + "_" + name), a HELP
 * text, a type and, for histograms, bucket bounds. Its children are told
 * apart by a label string such as topic="user-events",partition="0" (or no
 * labels). metrics_counter()/metrics_gauge()/metrics_histogram() find or
 * create the family and the child and return the child; calling them again
 * with the same name and labels returns the same pointer. The lookup takes a
 * mutex and formats the labels, so look up once and keep the pointer for hot
 * paths.
 *
 * Threads: lookups, metrics_set_collect_cb() and metrics_render() take the
 * registry mutex. Updates (add/set/observe) are lock-free atomics and may run
 * on any thread at any time. Update and read functions accept NULL (what a
 * failed lookup returns) and then do nothing, or return 0 / NaN.
 *
 * Ownership: the registry owns every family and child; child pointers stay
 * valid until metrics_destroy(). metrics_render() returns a malloc'ed string
 * the caller frees. Not in here: HTTP serving (httpd.h), or removing metrics.
 */
#ifndef ECOM_METRICS_H
#define ECOM_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics_t;
typedef struct metrics_counter metrics_counter_t;
typedef struct metrics_gauge metrics_gauge_t;
typedef struct metrics_histogram metrics_histogram_t;

/* labels_fmt for a child without labels. "" means the same, but gcc's
 * -Wformat-zero-length rejects a literal "" under -Werror. */
#define METRICS_NO_LABELS NULL

/* Called at the start of every metrics_render(), on the rendering (HTTP)
 * thread and never concurrently with itself, to refresh gauges just before a
 * scrape (e.g. consumer lag). It may look up and update metrics, but must not
 * render. */
typedef void (*metrics_collect_fn)(metrics_t *m, void *arg);

/* namespace_prefix ("ecom_stream") is prepended with "_" to every family
 * name; NULL or "" for none. Returns NULL when out of memory or when the
 * prefix is not a valid metric name. Free with metrics_destroy(). */
metrics_t *metrics_new(const char *namespace_prefix);
/* Frees the registry and every child. Accepts NULL. No thread may still
 * update a child or render: stop the HTTP server (httpd_stop) first. */
void metrics_destroy(metrics_t *m);

/*
 * Lookups: return the child of family name with the labels built from
 * labels_fmt, creating both on first use (help is kept from the first call).
 * labels_fmt is a printf format for name="value" pairs separated by commas,
 * e.g. "topic=\"%s\",partition=\"%d\"". Conversions inside a quoted value are
 * escaped per the text format (backslash, double quote, newline); literal
 * text, and conversions outside quotes, are taken as written. Supported
 * conversions: %d %i %u %x %X %o %c %s %e %f %g %a (with flags, width,
 * precision and hh/h/l/ll/z/j/t), and %%; not '*' or %n.
 * Returns NULL, with the reason logged, when the name, labels or bounds are
 * invalid, when the name is already registered with another type (or other
 * histogram bounds), or when out of memory.
 */
metrics_counter_t *metrics_counter(metrics_t *m, const char *name,
                                   const char *help, const char *labels_fmt,
                                   ...) __attribute__((format(printf, 4, 5)));
metrics_gauge_t *metrics_gauge(metrics_t *m, const char *name, const char *help,
                               const char *labels_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* bounds: nbounds finite upper bounds in strictly increasing order (copied);
 * the +Inf bucket is implicit. */
metrics_histogram_t *metrics_histogram(metrics_t *m, const char *name,
                                       const char *help, const double *bounds,
                                       size_t nbounds, const char *labels_fmt,
                                       ...)
    __attribute__((format(printf, 6, 7)));

/* Lock-free updates and reads, from any thread. */
void metrics_counter_add(metrics_counter_t *c, uint64_t n);
void metrics_counter_inc(metrics_counter_t *c);
uint64_t metrics_counter_value(const metrics_counter_t *c);

void metrics_gauge_set(metrics_gauge_t *g, double v);
void metrics_gauge_add(metrics_gauge_t *g, double delta); /* may be < 0 */
double metrics_gauge_value(const metrics_gauge_t *g);

void metrics_histogram_observe(metrics_histogram_t *h, double v);
uint64_t metrics_histogram_count(const metrics_histogram_t *h);
double metrics_histogram_sum(const metrics_histogram_t *h);
/* Estimates the q-quantile (0 <= q <= 1) the way Prometheus's
 * histogram_quantile() does: find the bucket holding rank q * count and
 * interpolate linearly inside it (the first bucket starts at 0 when its bound
 * is positive). Ranks in the +Inf bucket give the highest finite bound.
 * Returns NaN when there are no observations or q is out of range. */
double metrics_histogram_quantile(const metrics_histogram_t *h, double q);

/* Installs (or, with fn NULL, removes) the collect callback. */
void metrics_set_collect_cb(metrics_t *m, metrics_collect_fn fn, void *arg);

/* Runs the collect callback, then renders every family in registration order
 * (children in creation order), then process_resident_memory_bytes and
 * process_start_time_seconds (unprefixed, as Prometheus names them). Returns
 * a malloc'ed NUL-terminated string and its length in *len (len may be
 * NULL), or NULL when out of memory. Usually called on the HTTP thread. */
char *metrics_render(metrics_t *m, size_t *len);

#endif
