/*
 * metrics.c - metric registry and Prometheus text rendering (see metrics.h).
 *
 * Owns the registry: a mutex-protected, append-only list of families, each
 * with an append-only list of children, all freed by metrics_destroy().
 * Children hold their values in atomics (counters as uint64, gauges and
 * histogram sums as the bits of a double, histogram buckets as per-bucket,
 * non-cumulative uint64 counts), so updates never lock. Rendering reads the
 * atomics under the registry mutex; a scrape is not a snapshot across
 * children, but each histogram's +Inf bucket and _count come from the same
 * bucket reads and always agree.
 */
#include "metrics.h"
#include "buf.h"
#include "elog.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef enum { TYPE_COUNTER, TYPE_GAUGE, TYPE_HISTOGRAM } metric_type_t;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct metrics_counter {
    _Atomic uint64_t value;
};

struct metrics_gauge {
    _Atomic uint64_t bits; /* a double */
};

struct metrics_histogram {
    const double *bounds; /* the family's, nbounds of them */
    size_t nbounds;
    _Atomic uint64_t *buckets; /* nbounds + 1 counts, the last one +Inf */
    _Atomic uint64_t sum_bits; /* a double */
};

struct child {
    struct child *next;
    char *labels; /* formatted and escaped, "" for none */
    union {
        struct metrics_counter counter;
        struct metrics_gauge gauge;
        struct metrics_histogram histogram;
    } u;
};

struct family {
    struct family *next;
    char *name; /* with the prefix */
    char *help;
    metric_type_t type;
    double *bounds;
    size_t nbounds;
    struct child *first, *last;
};

struct metrics {
    pthread_mutex_t lock;        /* the lists and the collect callback */
    pthread_mutex_t render_lock; /* one render (and collect) at a time */
    char *prefix;                /* "ecom_stream_" or "" */
    struct family *first, *last;
    metrics_collect_fn collect;
    void *collect_arg;
    double start_time; /* process start, seconds since the epoch */
};

/* ---- text ---- */

/* Appends s with backslash and newline escaped, and double quotes too when
 * quotes is set (label values; HELP text leaves quotes alone). */
static void append_escaped(buf_t *b, const char *s, int quotes)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            buf_append(b, "\\\\", 2);
        else if (*s == '\n')
            buf_append(b, "\\n", 2);
        else if (*s == '"' && quotes)
            buf_append(b, "\\\"", 2);
        else
            buf_append(b, s, 1);
    }
}

/* ---- values ---- */

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* Atomically adds delta to the double stored in *bits. */
static void atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        bits, &old, dbl_bits(bits_dbl(old) + delta), memory_order_relaxed,
        memory_order_relaxed)) {
    }
}

/* The shortest of %.15g..%.17g that reads back as v, and the text format's
 * spellings of NaN and the infinities. */
static void format_double(char buf[32], double v)
{
    if (isnan(v)) {
        strcpy(buf, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(buf, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
}

/* ---- names and labels ---- */

static int valid_name(const char *s)
{
    if (s == NULL || *s == '\0' || strchr("0123456789", *s) != NULL)
        return 0;
    return s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789_:")] == '\0';
}

/* Checks name="value"{,name="value"} with the values already escaped. */
static int valid_labels(const char *s)
{
    static const char name_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

    while (*s != '\0') {
        size_t n = strspn(s, name_chars);
        if (n == 0 || (*s >= '0' && *s <= '9') || strncmp(s + n, "=\"", 2))
            return 0;
        for (s += n + 2; *s != '"'; s++) {
            if (*s == '\0' || *s == '\n')
                return 0;
            if (*s == '\\' && (s[1] != '\\' && s[1] != '"' && s[1] != 'n'))
                return 0;
            if (*s == '\\')
                s++;
        }
        s++; /* the closing quote */
        if (*s == ',' && s[1] != '\0')
            s++;
        else if (*s != '\0')
            return 0;
    }
    return 1;
}

/* The argument type a length modifier asks for (hh and h arrive as int). */
enum { ARG_INT, ARG_LONG, ARG_LLONG, ARG_SIZE, ARG_INTMAX, ARG_PTRDIFF };

static int arg_type(const char *mod)
{
    static const char *const mods[] = {"", "hh", "h", "l", "ll", "z", "j", "t"};
    static const int types[] = {ARG_INT,   ARG_INT,  ARG_INT,    ARG_LONG,
                                ARG_LLONG, ARG_SIZE, ARG_INTMAX, ARG_PTRDIFF};

    for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
        if (strcmp(mod, mods[i]) == 0)
            return types[i];
    return -1;
}

static void append_signed(buf_t *b, const char *spec, int type, va_list *ap)
{
    switch (type) {
    case ARG_INT: buf_printf(b, spec, va_arg(*ap, int)); break;
    case ARG_LONG: buf_printf(b, spec, va_arg(*ap, long)); break;
    case ARG_LLONG: buf_printf(b, spec, va_arg(*ap, long long)); break;
    case ARG_SIZE: buf_printf(b, spec, va_arg(*ap, ssize_t)); break;
    case ARG_INTMAX: buf_printf(b, spec, va_arg(*ap, intmax_t)); break;
    default: buf_printf(b, spec, va_arg(*ap, ptrdiff_t)); break;
    }
}

static void append_unsigned(buf_t *b, const char *spec, int type, va_list *ap)
{
    switch (type) {
    case ARG_INT: buf_printf(b, spec, va_arg(*ap, unsigned)); break;
    case ARG_LONG: buf_printf(b, spec, va_arg(*ap, unsigned long)); break;
    case ARG_LLONG: buf_printf(b, spec, va_arg(*ap, unsigned long long)); break;
    case ARG_SIZE: buf_printf(b, spec, va_arg(*ap, size_t)); break;
    case ARG_INTMAX: buf_printf(b, spec, va_arg(*ap, uintmax_t)); break;
    default: buf_printf(b, spec, va_arg(*ap, ptrdiff_t)); break;
    }
}

/* Appends one conversion (spec "%-5lu", its length modifier mod and its
 * conversion character conv), taking the argument from ap with the type
 * printf expects. Returns -1 for what we do not support. */
static int append_conversion(buf_t *b, const char *spec, const char *mod,
                             char conv, va_list *ap)
{
    int type = arg_type(mod);

    if (type < 0)
        return -1;
    if (conv == 'd' || conv == 'i') {
        append_signed(b, spec, type, ap);
    } else if (strchr("uxXo", conv) != NULL) {
        append_unsigned(b, spec, type, ap);
    } else if (conv == 'c' && *mod == '\0') {
        buf_printf(b, spec, va_arg(*ap, int));
    } else if (conv == 's' && *mod == '\0') {
        const char *s = va_arg(*ap, const char *);
        buf_printf(b, spec, s != NULL ? s : "(null)");
    } else if (strchr("eEfFgGaA", conv) != NULL &&
               (*mod == '\0' || strcmp(mod, "l") == 0)) {
        buf_printf(b, spec, va_arg(*ap, double));
    } else {
        return -1;
    }
    return 0;
}

/* Parses the conversion spec at p (a '%'): copies it, NUL-terminated, to
 * spec and its length modifier to mod. Returns the address of the conversion
 * character, or NULL when the spec is malformed or too long. */
static const char *parse_spec(const char *p, char spec[32], char mod[3])
{
    const char *s = p + 1;
    size_t n;

    s += strspn(s, "-+ #0");
    s += strspn(s, "0123456789");
    if (*s == '.')
        s += 1 + strspn(s + 1, "0123456789");
    n = strspn(s, "hljzt");
    if (n > 2 ||
        (n == 2 && strncmp(s, "hh", 2) != 0 && strncmp(s, "ll", 2) != 0))
        return NULL;
    memcpy(mod, s, n);
    mod[n] = '\0';
    s += n;
    if (*s == '\0' || (size_t)(s - p) + 2 > 32)
        return NULL;
    memcpy(spec, p, (size_t)(s - p) + 1);
    spec[s - p + 1] = '\0';
    return s;
}

/* Formats labels_fmt (see metrics.h): literal text is copied as written,
 * tracking whether we are inside a quoted value (a backslash there protects
 * the next character); what a conversion produces inside a value is escaped.
 * Returns a malloc'ed label string (not yet validated), or NULL with *why
 * set. */
static char *format_labels(const char *fmt, va_list ap, const char **why)
{
    buf_t b = {0};
    int in_value = 0;
    va_list args;

    va_copy(args, ap);
    buf_append(&b, "", 0);
    for (const char *p = fmt != NULL ? fmt : ""; *p != '\0' && !b.oom;) {
        char spec[32], mod[3], *raw;
        size_t start = b.len, n;
        const char *conv;

        if (*p == '%' && p[1] == '%') {
            buf_append(&b, "%", 1);
            p += 2;
            continue;
        }
        if (*p != '%') {
            n = *p == '\\' && in_value && p[1] != '\0' ? 2 : 1;
            if (*p == '"')
                in_value = !in_value;
            buf_append(&b, p, n);
            p += n;
            continue;
        }
        conv = parse_spec(p, spec, mod);
        if (conv == NULL ||
            append_conversion(&b, spec, mod, *conv, &args) != 0) {
            *why = "unsupported conversion in labels";
            goto fail;
        }
        p = conv + 1;
        if (!in_value || b.oom)
            continue;
        raw = strdup(b.data + start); /* escape what was just appended */
        buf_truncate(&b, start);
        if (raw == NULL)
            b.oom = 1;
        else
            append_escaped(&b, raw, 1);
        free(raw);
    }
    if (b.oom) {
        *why = "out of memory";
        goto fail;
    }
    va_end(args);
    return b.data;
fail:
    va_end(args);
    buf_free(&b);
    return NULL;
}

/* ---- registry ---- */

/* Start time of this process: starttime (field 22 of /proc/self/stat, clock
 * ticks since boot) plus btime from /proc/stat. Falls back to now. */
static double process_start_time(void)
{
    char buf[1024];
    unsigned long long ticks = 0, btime = 0;
    const char *p = NULL;
    size_t n = 0;
    FILE *fp = fopen("/proc/self/stat", "r");
    struct timespec now;

    if (fp != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
    }
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    for (int i = 0; p != NULL && i < 20; i++)
        if ((p = strchr(p, ' ')) != NULL)
            p++;
    if (p != NULL)
        ticks = strtoull(p, NULL, 10);
    fp = fopen("/proc/stat", "r");
    while (fp != NULL && fgets(buf, sizeof(buf), fp) != NULL)
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    if (fp != NULL)
        fclose(fp);
    if (btime != 0 && ticks != 0 && sysconf(_SC_CLK_TCK) > 0)
        return (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

metrics_t *metrics_new(const char *namespace_prefix)
{
    metrics_t *m = NULL;
    const char *prefix = namespace_prefix != NULL ? namespace_prefix : "";

    if (*prefix != '\0' && !valid_name(prefix))
        return NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->prefix = malloc(strlen(prefix) + 2);
    if (m->prefix == NULL) {
        free(m);
        return NULL;
    }
    strcpy(m->prefix, prefix);
    if (*prefix != '\0')
        strcat(m->prefix, "_");
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->render_lock, NULL);
    m->start_time = process_start_time();
    return m;
}

void metrics_destroy(metrics_t *m)
{
    struct family *f, *fnext;
    struct child *c, *cnext;

    if (m == NULL)
        return;
    for (f = m->first; f != NULL; f = fnext) {
        fnext = f->next;
        for (c = f->first; c != NULL; c = cnext) {
            cnext = c->next;
            if (f->type == TYPE_HISTOGRAM)
                free(c->u.histogram.buckets);
            free(c->labels);
            free(c);
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
    }
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->render_lock);
    free(m->prefix);
    free(m);
}

void metrics_set_collect_cb(metrics_t *m, metrics_collect_fn fn, void *arg)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->collect = fn;
    m->collect_arg = arg;
    pthread_mutex_unlock(&m->lock);
}

static const char *check_bounds(const double *bounds, size_t nbounds)
{
    if (nbounds > 0 && bounds == NULL)
        return "histogram bounds missing";
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return "histogram bounds are not finite and strictly increasing";
    return NULL;
}

/* Called with m->lock held. Takes ownership of name on success. */
static struct family *add_family(metrics_t *m, char *name, const char *help,
                                 metric_type_t type, const double *bounds,
                                 size_t nbounds)
{
    struct family *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->help = strdup(help != NULL ? help : "");
    f->bounds = malloc((nbounds + 1) * sizeof(double));
    if (f->help == NULL || f->bounds == NULL) {
        free(f->help);
        free(f->bounds);
        free(f);
        return NULL;
    }
    if (nbounds > 0)
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
    f->name = name;
    f->type = type;
    f->nbounds = nbounds;
    if (m->last != NULL)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
}

/* Called with m->lock held. Takes ownership of labels on success. */
static struct child *add_child(struct family *f, char *labels)
{
    struct child *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (f->type == TYPE_COUNTER) {
        atomic_init(&c->u.counter.value, 0);
    } else if (f->type == TYPE_GAUGE) {
        atomic_init(&c->u.gauge.bits, dbl_bits(0.0));
    } else {
        struct metrics_histogram *h = &c->u.histogram;
        h->buckets = malloc((f->nbounds + 1) * sizeof(*h->buckets));
        if (h->buckets == NULL) {
            free(c);
            return NULL;
        }
        for (size_t i = 0; i <= f->nbounds; i++)
            atomic_init(&h->buckets[i], 0);
        atomic_init(&h->sum_bits, dbl_bits(0.0));
        h->bounds = f->bounds;
        h->nbounds = f->nbounds;
    }
    c->labels = labels;
    if (f->last != NULL)
        f->last->next = c;
    else
        f->first = c;
    f->last = c;
    return c;
}

static int same_bounds(const struct family *f, const double *bounds,
                       size_t nbounds)
{
    return f->nbounds == nbounds &&
           (nbounds == 0 ||
            memcmp(f->bounds, bounds, nbounds * sizeof(double)) == 0);
}

/* Finds or creates family name (with the prefix) and its child labelled
 * labels_fmt. Logs and returns NULL on failure (see metrics.h). */
static struct child *lookup(metrics_t *m, metric_type_t type, const char *name,
                            const char *help, const double *bounds,
                            size_t nbounds, const char *labels_fmt, va_list ap)
{
    char *full = NULL, *labels = NULL;
    const char *why = NULL;
    struct family *f = NULL;
    struct child *c = NULL;

    if (m == NULL)
        return NULL;
    if (!valid_name(name)) {
        why = "invalid metric name";
        goto out;
    }
    full = malloc(strlen(m->prefix) + strlen(name) + 1);
    if (full == NULL) {
        why = "out of memory";
        goto out;
    }
    strcat(strcpy(full, m->prefix), name);
    labels = format_labels(labels_fmt, ap, &why);
    if (labels == NULL)
        goto out;
    if (!valid_labels(labels)) {
        why = "labels are not name=\"value\" pairs separated by commas";
        goto out;
    }
    if (type == TYPE_HISTOGRAM && (why = check_bounds(bounds, nbounds)) != NULL)
        goto out;
    if (type == TYPE_HISTOGRAM &&
        (strncmp(labels, "le=", 3) == 0 || strstr(labels, ",le=") != NULL)) {
        why = "label \"le\" is reserved for histogram buckets";
        goto out;
    }

    pthread_mutex_lock(&m->lock);
    for (f = m->first; f != NULL && strcmp(f->name, full) != 0; f = f->next) {
    }
    if (f != NULL && (f->type != type || !same_bounds(f, bounds, nbounds))) {
        why = f->type != type ? "already registered with another type"
                              : "already registered with other buckets";
    } else {
        if (f == NULL &&
            (f = add_family(m, full, help, type, bounds, nbounds)) != NULL)
            full = NULL; /* the family owns it now */
        for (c = f != NULL ? f->first : NULL; c != NULL; c = c->next)
            if (strcmp(c->labels, labels) == 0)
                break;
        if (f != NULL && c == NULL && (c = add_child(f, labels)) != NULL)
            labels = NULL;
        if (c == NULL)
            why = "out of memory";
    }
    pthread_mutex_unlock(&m->lock);
out:
    for (char *nl = labels; nl != NULL && (nl = strchr(nl, '\n')) != NULL;)
        *nl = ' '; /* keep the log line whole */
    if (c == NULL)
        LOG_ERROR("cannot register metric \"%s%s\" {%s}: %s", m->prefix,
                  name != NULL ? name : "(null)",
                  labels != NULL ? labels : (labels_fmt ? labels_fmt : ""),
                  why);
    free(full);
    free(labels);
    return c;
}

metrics_counter_t *metrics_counter(metrics_t *m, const char *name,
                                   const char *help, const char *labels_fmt,
                                   ...)
{
    struct child *c;
    va_list ap;

    va_start(ap, labels_fmt);
    c = lookup(m, TYPE_COUNTER, name, help, NULL, 0, labels_fmt, ap);
    va_end(ap);
    return c != NULL ? &c->u.counter : NULL;
}

metrics_gauge_t *metrics_gauge(metrics_t *m, const char *name, const char *help,
                               const char *labels_fmt, ...)
{
    struct child *c;
    va_list ap;

    va_start(ap, labels_fmt);
    c = lookup(m, TYPE_GAUGE, name, help, NULL, 0, labels_fmt, ap);
    va_end(ap);
    return c != NULL ? &c->u.gauge : NULL;
}

metrics_histogram_t *metrics_histogram(metrics_t *m, const char *name,
                                       const char *help, const double *bounds,
                                       size_t nbounds, const char *labels_fmt,
                                       ...)
{
    struct child *c;
    va_list ap;

    va_start(ap, labels_fmt);
    c = lookup(m, TYPE_HISTOGRAM, name, help, bounds, nbounds, labels_fmt, ap);
    va_end(ap);
    return c != NULL ? &c->u.histogram : NULL;
}

/* ---- updates (lock-free, any thread) ---- */

void metrics_counter_add(metrics_counter_t *c, uint64_t n)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void metrics_counter_inc(metrics_counter_t *c) { metrics_counter_add(c, 1); }

uint64_t metrics_counter_value(const metrics_counter_t *c)
{
    if (c == NULL)
        return 0;
    return atomic_load_explicit(&c->value, memory_order_relaxed);
}

void metrics_gauge_set(metrics_gauge_t *g, double v)
{
    if (g != NULL)
        atomic_store_explicit(&g->bits, dbl_bits(v), memory_order_relaxed);
}

void metrics_gauge_add(metrics_gauge_t *g, double delta)
{
    if (g != NULL)
        atomic_add_double(&g->bits, delta);
}

double metrics_gauge_value(const metrics_gauge_t *g)
{
    if (g == NULL)
        return NAN;
    return bits_dbl(atomic_load_explicit(&g->bits, memory_order_relaxed));
}

void metrics_histogram_observe(metrics_histogram_t *h, double v)
{
    size_t lo = 0, hi;

    if (h == NULL)
        return;
    /* The first bound >= v; NaN and values above every bound go to +Inf. */
    for (hi = h->nbounds; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(v))
        lo = h->nbounds;
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t metrics_histogram_count(const metrics_histogram_t *h)
{
    uint64_t total = 0;

    for (size_t i = 0; h != NULL && i <= h->nbounds; i++)
        total += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return total;
}

double metrics_histogram_sum(const metrics_histogram_t *h)
{
    if (h == NULL)
        return NAN;
    return bits_dbl(atomic_load_explicit(&h->sum_bits, memory_order_relaxed));
}

double metrics_histogram_quantile(const metrics_histogram_t *h, double q)
{
    uint64_t total = metrics_histogram_count(h), cum = 0, n = 0;
    double rank, lower;
    size_t i;

    if (h == NULL || total == 0 || !(q >= 0.0 && q <= 1.0) || h->nbounds == 0)
        return NAN;
    rank = q * (double)total;
    /* Buckets only grow, so this pass reaches rank even if observations
     * arrive after total was read. Empty buckets are skipped. */
    for (i = 0; i <= h->nbounds; i++) {
        n = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (n > 0 && (double)(cum + n) >= rank)
            break;
        cum += n;
    }
    if (i >= h->nbounds)
        return h->bounds[h->nbounds - 1];
    if (i == 0 && h->bounds[0] <= 0)
        return h->bounds[0];
    lower = i == 0 ? 0.0 : h->bounds[i - 1];
    return lower + (h->bounds[i] - lower) * ((rank - (double)cum) / (double)n);
}

/* ---- rendering ---- */

/* One sample line: name+suffix, {labels[,le="le"]}, value. */
static void render_sample(buf_t *b, const char *name, const char *suffix,
                          const char *labels, const char *le, const char *value)
{
    buf_printf(b, "%s%s", name, suffix);
    if (*labels != '\0' && le != NULL)
        buf_printf(b, "{%s,le=\"%s\"}", labels, le);
    else if (*labels != '\0' || le != NULL)
        buf_printf(b, le != NULL ? "{le=\"%s\"}" : "{%s}",
                  le != NULL ? le : labels);
    buf_printf(b, " %s\n", value);
}

static void render_histogram(buf_t *b, const char *name, const struct child *c)
{
    const struct metrics_histogram *h = &c->u.histogram;
    char le[32], value[32];
    uint64_t cum = 0;

    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->nbounds)
            format_double(le, h->bounds[i]);
        else
            strcpy(le, "+Inf");
        snprintf(value, sizeof(value), "%" PRIu64, cum);
        render_sample(b, name, "_bucket", c->labels, le, value);
    }
    format_double(value, metrics_histogram_sum(h));
    render_sample(b, name, "_sum", c->labels, NULL, value);
    snprintf(value, sizeof(value), "%" PRIu64, cum);
    render_sample(b, name, "_count", c->labels, NULL, value);
}

static void render_family(buf_t *b, const struct family *f)
{
    char value[32];

    buf_printf(b, "# HELP %s ", f->name);
    append_escaped(b, f->help, 0);
    buf_printf(b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    for (const struct child *c = f->first; c != NULL; c = c->next) {
        if (f->type == TYPE_HISTOGRAM) {
            render_histogram(b, f->name, c);
            continue;
        }
        if (f->type == TYPE_COUNTER)
            snprintf(value, sizeof(value), "%" PRIu64,
                     metrics_counter_value(&c->u.counter));
        else
            format_double(value, metrics_gauge_value(&c->u.gauge));
        render_sample(b, f->name, "", c->labels, NULL, value);
    }
}

static void render_process_gauge(buf_t *b, const char *name, const char *help,
                                 const char *value)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name,
              name, value);
}

/* The process_* gauges Prometheus client libraries export, with their HELP
 * texts. The resident set is left out when /proc/self/statm is unreadable. */
static void render_process(buf_t *b, double start_time)
{
    unsigned long long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    FILE *fp = fopen("/proc/self/statm", "r");
    char value[32];

    if (fp != NULL) {
        if (fscanf(fp, "%llu %llu", &size, &resident) == 2 && page > 0) {
            snprintf(value, sizeof(value), "%llu",
                     resident * (unsigned long long)page);
            render_process_gauge(b, "process_resident_memory_bytes",
                                 "Resident memory size in bytes.", value);
        }
        fclose(fp);
    }
    format_double(value, start_time);
    render_process_gauge(
        b, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", value);
}

char *metrics_render(metrics_t *m, size_t *len)
{
    buf_t b = {0};
    metrics_collect_fn collect;
    void *arg;

    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&m->render_lock);
    pthread_mutex_lock(&m->lock);
    collect = m->collect;
    arg = m->collect_arg;
    pthread_mutex_unlock(&m->lock);
    if (collect != NULL)
        collect(m, arg); /* outside m->lock: it may look metrics up */

    buf_append(&b, "", 0);
    pthread_mutex_lock(&m->lock);
    for (const struct family *f = m->first; f != NULL; f = f->next)
        if (f->first != NULL) /* a family whose only child failed */
            render_family(&b, f);
    pthread_mutex_unlock(&m->lock);
    render_process(&b, m->start_time);
    pthread_mutex_unlock(&m->render_lock);

    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return b.data;
}
