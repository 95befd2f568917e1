/*
 * evtime.c - ecom-stream's event-time clock (see evtime.h).
 *
 * Owns the partition records (kept after a revocation, freed with the
 * clock), the sorted array of open window starts, and the counters. Pure:
 * no I/O, no clock (time comes in as now_us). All arithmetic on event
 * times saturates at INT64_MIN/INT64_MAX, which stand for "nothing yet" and
 * "holds nothing back".
 */
#include "evtime.h"

#include <stdlib.h>
#include <string.h>

enum { P_UNASSIGNED = 0, P_LOADING, P_CONSUMING };

struct evtime_part {
    evtime_t *clock;
    int state;                  /* P_* */
    int caught_up;              /* the last progress report had pos >= hi >= 0 */
    int in_flight;              /* snapshotted into the batch being written */
    int64_t max_ts;             /* live: the batch being filled included */
    int64_t sealed_max, sealed_wm;
    int64_t stored_max, stored_wm; /* as of the last committed batch */
    int64_t quiet_since_us;     /* last event, backlog report or restore */
    int64_t late;
};

struct evtime {
    evtime_conf_t conf;         /* close_ms resolved */
    evtime_part_t **parts;
    size_t count, cap;
    int64_t *open;              /* window starts, ascending, unique */
    size_t open_count, open_cap;
    int64_t last_arrival_us;    /* latest event or restore of any partition */
    int64_t horizon;            /* end of the latest window reported final */
    int64_t late, reopened;
};

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* floor(a / b) for b > 0, without overflow. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int in_span(int64_t v) { return v >= 0 && v <= EVTIME_SPAN_LIMIT; }

evtime_t *evtime_new(const evtime_conf_t *conf)
{
    static const evtime_conf_t defaults = EVTIME_CONF_DEFAULTS;
    evtime_t *c;

    if (conf == NULL)
        conf = &defaults;
    if (conf->window_ms < 1 || !in_span(conf->window_ms) || !in_span(conf->lateness_ms) ||
        !in_span(conf->idle_ms) || (conf->close_ms != EVTIME_CLOSE_LATENESS && !in_span(conf->close_ms)))
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->conf = *conf;
    if (c->conf.close_ms == EVTIME_CLOSE_LATENESS)
        c->conf.close_ms = c->conf.lateness_ms;
    c->last_arrival_us = INT64_MIN;
    c->horizon = INT64_MIN;
    return c;
}

void evtime_destroy(evtime_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->parts[i]);
    free(c->parts);
    free(c->open);
    free(c);
}

int64_t evtime_window_start(const evtime_t *c, int64_t ts)
{
    int64_t m = ts % c->conf.window_ms;
    return ts - (m < 0 ? m + c->conf.window_ms : m);
}

int64_t evtime_window_end(const evtime_t *c, int64_t ts)
{
    return evtime_window_start(c, ts) + c->conf.window_ms;
}

/* --- partitions -------------------------------------------------------- */

evtime_part_t *evtime_part_new(evtime_t *c)
{
    evtime_part_t *p;

    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        evtime_part_t **grown = realloc(c->parts, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        c->parts = grown;
        c->cap = cap;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->clock = c;
    p->max_ts = p->sealed_max = p->stored_max = INT64_MIN;
    p->sealed_wm = p->stored_wm = INT64_MIN;
    c->parts[c->count++] = p;
    return p;
}

void evtime_assign(evtime_part_t *p)
{
    p->state = P_LOADING;
    p->in_flight = 0;
    p->caught_up = 0;
    p->max_ts = p->stored_max = INT64_MIN;
    p->stored_wm = INT64_MIN;
}

/* The partition's own watermark for a given max_ts. */
static int64_t own_wm(const evtime_t *c, int64_t max_ts)
{
    return max_ts == INT64_MIN ? INT64_MIN : sat_add(max_ts, -c->conf.lateness_ms);
}

void evtime_restore(evtime_part_t *p, int64_t stored_max_ts, int64_t now_us)
{
    evtime_t *c = p->clock;

    p->state = P_CONSUMING;
    p->in_flight = 0;
    p->caught_up = 0;
    p->max_ts = p->stored_max = stored_max_ts;
    p->stored_wm = own_wm(c, stored_max_ts);
    p->quiet_since_us = now_us;
    c->last_arrival_us = max64(c->last_arrival_us, now_us);
}

void evtime_rewind(evtime_part_t *p)
{
    if (p->state == P_UNASSIGNED)
        return;
    p->state = P_LOADING;
    p->in_flight = 0;
    p->caught_up = 0;
    p->max_ts = p->stored_max;
}

void evtime_revoke(evtime_part_t *p)
{
    p->state = P_UNASSIGNED;
    p->in_flight = 0;
    p->caught_up = 0;
}

/* --- open windows ------------------------------------------------------ */

/* Adds start to the open set: 1 when added, 0 when present, -1 when out of
 * memory (nothing changed). Events mostly hit the newest window. */
static int open_add(evtime_t *c, int64_t start)
{
    size_t lo = 0, hi = c->open_count;

    if (hi > 0 && c->open[hi - 1] == start)
        return 0;
    if (hi > 0 && c->open[hi - 1] > start) {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (c->open[mid] < start)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (c->open[lo] == start)
            return 0;
    } else {
        lo = c->open_count;
    }
    if (c->open_count == c->open_cap) {
        size_t cap = c->open_cap ? 2 * c->open_cap : 16;
        int64_t *grown = realloc(c->open, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        c->open = grown;
        c->open_cap = cap;
    }
    memmove(c->open + lo + 1, c->open + lo, (c->open_count - lo) * sizeof(*c->open));
    c->open[lo] = start;
    c->open_count++;
    return 1;
}

/* --- events and progress ----------------------------------------------- */

evtime_verdict_t evtime_event(evtime_part_t *p, int64_t ts, int64_t now_us)
{
    evtime_t *c = p->clock;
    evtime_verdict_t verdict = EVTIME_ON_TIME;
    int64_t start, end;
    int added;

    if (p->state != P_CONSUMING || ts < -EVTIME_TS_LIMIT || ts > EVTIME_TS_LIMIT)
        return EVTIME_ERROR;
    start = evtime_window_start(c, ts);
    end = start + c->conf.window_ms;
    if (p->max_ts != INT64_MIN && end <= own_wm(c, p->max_ts)) {
        p->late++;
        c->late++;
        verdict = EVTIME_LATE; /* ts < end <= max_ts: max_ts stays */
    } else {
        added = open_add(c, start);
        if (added < 0)
            return EVTIME_ERROR;
        if (added && end <= c->horizon)
            c->reopened++;
        p->max_ts = max64(p->max_ts, ts);
    }
    p->quiet_since_us = now_us; /* something new arrived, late or not */
    c->last_arrival_us = max64(c->last_arrival_us, now_us);
    return verdict;
}

void evtime_progress(evtime_part_t *p, int64_t pos, int64_t hi, int64_t now_us)
{
    p->caught_up = hi >= 0 && pos >= hi;
    if (!p->caught_up)
        p->quiet_since_us = now_us;
}

/* --- watermarks -------------------------------------------------------- */

static int idle(const evtime_part_t *p, int64_t now_us)
{
    return p->state == P_CONSUMING && p->caught_up &&
           now_us - p->quiet_since_us >= p->clock->conf.idle_ms * 1000;
}

/* C(now) of evtime.h: the stream clock that idle partitions follow. */
static int64_t stream_clock(const evtime_t *c, int64_t now_us)
{
    int64_t held = INT64_MAX, top = INT64_MIN, elapsed_ms;
    int assigned = 0, busy = 0;

    for (size_t i = 0; i < c->count; i++) {
        const evtime_part_t *p = c->parts[i];

        if (p->state == P_UNASSIGNED)
            continue;
        assigned = 1;
        if (p->state == P_LOADING || !idle(p, now_us)) {
            busy = 1;
            held = min64(held, p->state == P_LOADING ? INT64_MIN : own_wm(c, p->max_ts));
        }
        top = max64(top, p->max_ts);
    }
    if (!assigned)
        return INT64_MIN;
    if (busy)
        return held;
    if (top == INT64_MIN)
        return INT64_MAX;
    elapsed_ms = now_us > c->last_arrival_us ? (now_us - c->last_arrival_us) / 1000 : 0;
    return max64(own_wm(c, top), sat_add(top, elapsed_ms - c->conf.close_ms));
}

static int64_t effective(const evtime_part_t *p, int64_t clock, int64_t now_us)
{
    int64_t own;

    if (p->state != P_CONSUMING)
        return INT64_MIN;
    own = own_wm(p->clock, p->max_ts);
    return idle(p, now_us) ? max64(own, clock) : own;
}

int64_t evtime_part_max_ts(const evtime_part_t *p) { return p->max_ts; }
int evtime_part_idle(const evtime_part_t *p, int64_t now_us) { return idle(p, now_us); }
int64_t evtime_part_late(const evtime_part_t *p) { return p->late; }

int64_t evtime_part_watermark(const evtime_part_t *p, int64_t now_us)
{
    return effective(p, stream_clock(p->clock, now_us), now_us);
}

/* The minimum of the effective watermarks is C itself: non-idle partitions
 * define it, idle ones sit at or above it. */
int64_t evtime_watermark(const evtime_t *c, int64_t now_us) { return stream_clock(c, now_us); }

int64_t evtime_late_events(const evtime_t *c) { return c->late; }
int64_t evtime_reopened(const evtime_t *c) { return c->reopened; }
size_t evtime_open_windows(const evtime_t *c) { return c->open_count; }

/* --- hand-off with the writer ------------------------------------------ */

void evtime_seal(evtime_t *c, int64_t now_us)
{
    int64_t clock = stream_clock(c, now_us);

    for (size_t i = 0; i < c->count; i++) {
        evtime_part_t *p = c->parts[i];

        if (p->state != P_CONSUMING)
            continue;
        p->sealed_max = p->max_ts;
        p->sealed_wm = effective(p, clock, now_us);
        p->in_flight = 1;
    }
}

int evtime_part_mark(const evtime_part_t *p, int64_t *max_ts, int64_t *watermark)
{
    if (!p->in_flight)
        return 0;
    *max_ts = p->sealed_max;
    *watermark = p->sealed_wm;
    return 1;
}

void evtime_committed(evtime_t *c)
{
    for (size_t i = 0; i < c->count; i++) {
        evtime_part_t *p = c->parts[i];

        if (p->in_flight) {
            p->stored_max = p->sealed_max;
            p->stored_wm = p->sealed_wm;
            p->in_flight = 0;
        }
    }
}

int evtime_seal_due(const evtime_t *c, int64_t now_us)
{
    int64_t clock = stream_clock(c, now_us), w = c->conf.window_ms;

    for (size_t i = 0; i < c->count; i++) {
        const evtime_part_t *p = c->parts[i];
        int64_t base, cur;

        if (p->state != P_CONSUMING)
            continue;
        base = p->in_flight ? p->sealed_wm : p->stored_wm;
        cur = effective(p, clock, now_us);
        if (cur > base && floor_div(cur, w) > floor_div(base, w))
            return 1; /* a multiple of w, a window end, lies in (base, cur] */
    }
    return 0;
}

int64_t evtime_committed_watermark(const evtime_t *c)
{
    int64_t wm = INT64_MAX;
    int assigned = 0;

    for (size_t i = 0; i < c->count; i++) {
        const evtime_part_t *p = c->parts[i];

        if (p->state == P_UNASSIGNED)
            continue;
        assigned = 1;
        wm = min64(wm, p->state == P_LOADING ? INT64_MIN : p->stored_wm);
    }
    return assigned ? wm : INT64_MIN;
}

int evtime_final(evtime_t *c, int64_t *window_start)
{
    int64_t end;

    if (c->open_count == 0)
        return 0;
    end = c->open[0] + c->conf.window_ms;
    if (end > evtime_committed_watermark(c))
        return 0;
    *window_start = c->open[0];
    c->horizon = max64(c->horizon, end);
    memmove(c->open, c->open + 1, (c->open_count - 1) * sizeof(*c->open));
    c->open_count--;
    return 1;
}
