/*
 * ledger.c - ecom-stream's exactly-once bookkeeping (see ledger.h).
 *
 * Owns the partition records (kept after a revocation so that a later
 * module's per-partition `user` state survives a reassignment), an index
 * from (topic, partition) to record, and the writer's state: idle, writing
 * a batch, or reading stored offsets; a batch held for a retry; the
 * backoff clocks. Pure: no I/O, no clock (time comes in as now_us).
 */
#include "ledger.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_MAX_PARTITIONS 100000

enum { W_IDLE = 0, W_FLUSH, W_LOAD };

struct ledger {
    ledger_conf_t conf;
    ledger_part_t **parts;  /* every record ever made */
    size_t count, cap;
    int32_t *index[SCHEMA_TOPICS]; /* partition -> slot + 1 (0: none) */
    int32_t index_len[SCHEMA_TOPICS];
    int writer;             /* W_* */
    int64_t writer_since_us;
    int orphan;             /* the running write belongs to dropped batches */
    int held;               /* a failed batch waits for its retry */
    int retry_ms;
    int64_t retry_at_us;
    int load_retry_ms;
    int64_t load_at_us;
    int pg_up;
    int backpressure;
};

ledger_t *ledger_new(const ledger_conf_t *conf)
{
    ledger_t *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->conf = *conf;
    if (l->conf.retry_min_ms <= 0)
        l->conf.retry_min_ms = 250;
    if (l->conf.retry_max_ms < l->conf.retry_min_ms)
        l->conf.retry_max_ms = l->conf.retry_min_ms;
    return l;
}

void ledger_destroy(ledger_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        free(l->parts[i]);
    free(l->parts);
    for (int t = 0; t < SCHEMA_TOPICS; t++)
        free(l->index[t]);
    free(l);
}

static int backoff(int current, const ledger_conf_t *c)
{
    if (current <= 0)
        return c->retry_min_ms;
    return current * 2 > c->retry_max_ms ? c->retry_max_ms : current * 2;
}

ledger_part_t *ledger_find(const ledger_t *l, int topic, int32_t partition)
{
    ledger_part_t *p;

    if (topic < 0 || topic >= SCHEMA_TOPICS || partition < 0 || partition >= l->index_len[topic])
        return NULL;
    if (l->index[topic][partition] == 0)
        return NULL;
    p = l->parts[l->index[topic][partition] - 1];
    return p->state == LEDGER_UNASSIGNED ? NULL : p;
}

ledger_part_t *ledger_next_part(const ledger_t *l, size_t *i)
{
    while (*i < l->count) {
        ledger_part_t *p = l->parts[(*i)++];
        if (p->state != LEDGER_UNASSIGNED)
            return p;
    }
    return NULL;
}

ledger_part_t *ledger_next_record(const ledger_t *l, size_t *i)
{
    return *i < l->count ? l->parts[(*i)++] : NULL;
}

/* The record for (topic, partition), made on first use. */
static ledger_part_t *record(ledger_t *l, int topic, int32_t partition)
{
    ledger_part_t *p;

    if (topic < 0 || topic >= SCHEMA_TOPICS || partition < 0 || partition >= LEDGER_MAX_PARTITIONS)
        return NULL;
    if (partition >= l->index_len[topic]) {
        int32_t len = partition + 1 > 2 * l->index_len[topic] ? partition + 1 : 2 * l->index_len[topic];
        int32_t *grown = realloc(l->index[topic], (size_t)len * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        memset(grown + l->index_len[topic], 0, (size_t)(len - l->index_len[topic]) * sizeof(*grown));
        l->index[topic] = grown;
        l->index_len[topic] = len;
    }
    if (l->index[topic][partition] != 0)
        return l->parts[l->index[topic][partition] - 1];
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        ledger_part_t **grown = realloc(l->parts, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        l->parts = grown;
        l->cap = cap;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->topic = topic;
    p->partition = partition;
    l->parts[l->count++] = p;
    l->index[topic][partition] = (int32_t)l->count;
    return p;
}

ledger_part_t *ledger_assign(ledger_t *l, int topic, int32_t partition, int64_t now_us)
{
    ledger_part_t *p = record(l, topic, partition);

    if (p == NULL)
        return NULL;
    p->state = LEDGER_LOADING;
    p->paused = 0; /* a fresh assignment consumes until ledger_apply() pauses it */
    p->dirty = 0;
    p->stored = p->fence = -1;
    p->pos = 0;
    p->lo = p->hi = -1;
    p->since_us = now_us;
    return p;
}

void ledger_revoke(ledger_t *l, int topic, int32_t partition)
{
    ledger_part_t *p = ledger_find(l, topic, partition);

    if (p != NULL) {
        p->state = LEDGER_UNASSIGNED;
        p->dirty = 0;
        p->paused = 0;
    }
}

size_t ledger_load_due(ledger_t *l, int64_t now_us, ledger_part_t **out, size_t max)
{
    size_t n = 0, i = 0;
    ledger_part_t *p;

    if (l->writer != W_IDLE || now_us < l->load_at_us)
        return 0;
    while (n < max && (p = ledger_next_part(l, &i)) != NULL)
        if (p->state == LEDGER_LOADING)
            out[n++] = p;
    if (n > 0) {
        l->writer = W_LOAD;
        l->writer_since_us = now_us;
    }
    return n;
}

void ledger_loaded(ledger_t *l, ledger_part_t *p, int found, int64_t next,
                   int other_cluster, ledger_gap_t *gap)
{
    (void)l;
    memset(gap, 0, sizeof(*gap));
    if (p->state != LEDGER_LOADING)
        return; /* revoked, or loaded already */
    p->stored = p->fence = found ? next : -1;
    p->pos = found ? next : 0;
    p->dirty = 0;
    if (found && other_cluster) {
        /* The stored offsets are another cluster's: start over, and let
         * the next batch move the stored offset back and record why. */
        if (next > 0) {
            gap->kind = "reset";
            gap->first = 0;
            gap->last = next - 1;
        }
        p->pos = 0;
        p->dirty = 1;
    }
    p->state = LEDGER_SEEKING;
}

void ledger_load_done(ledger_t *l, int ok, int64_t now_us)
{
    if (l->writer == W_LOAD)
        l->writer = W_IDLE;
    l->pg_up = ok;
    l->load_retry_ms = ok ? 0 : backoff(l->load_retry_ms, &l->conf);
    l->load_at_us = ok ? 0 : now_us + (int64_t)l->load_retry_ms * 1000;
}

ledger_verdict_t ledger_message(ledger_t *l, ledger_part_t *p, int64_t offset,
                                int64_t lo, int64_t hi, ledger_gap_t *gap)
{
    (void)l;
    memset(gap, 0, sizeof(*gap));
    if (p == NULL || p->state != LEDGER_ACTIVE)
        return LEDGER_IGNORE;
    if (offset < p->pos) {
        if (hi < 0 || hi >= p->pos)
            return LEDGER_SKIP; /* a re-fetch after a pause or a seek */
        gap->kind = "reset";    /* the log now ends before pos: recreated */
        gap->first = offset;
        gap->last = p->pos - 1;
    } else if (offset > p->pos) {
        int64_t lost_end = lo < 0 ? offset : (lo < offset ? lo : offset); /* one past the lost range */
        if (lost_end > p->pos) {
            gap->kind = "retention";
            gap->first = p->pos;
            gap->last = lost_end - 1;
        } else {
            lost_end = p->pos;
        }
        gap->holes = offset - lost_end;
        p->holes += gap->holes;
    }
    p->pos = offset + 1;
    p->dirty = 1;
    return LEDGER_TAKE;
}

/* 1 when every message taken from the partition is stored. */
static int caught_up(const ledger_part_t *p)
{
    return p->state == LEDGER_ACTIVE && !p->dirty && p->pos == (p->stored < 0 ? 0 : p->stored);
}

static int pending(const ledger_t *l, const ledger_part_t *p)
{
    return !caught_up(p) || p->paused || l->held;
}

void ledger_watermarks(ledger_part_t *p, int64_t lo, int64_t hi, int64_t now_us,
                       ledger_gap_t *gap)
{
    memset(gap, 0, sizeof(*gap));
    p->lo = lo;
    p->hi = hi;
    if (p->state == LEDGER_ACTIVE && lo >= 0 && hi == lo && lo > p->pos) {
        gap->kind = "retention";
        gap->first = p->pos;
        gap->last = lo - 1;
        p->pos = lo;
        p->dirty = 1;
    }
    if (caught_up(p) && !p->paused)
        p->since_us = now_us;
}

int64_t ledger_backlog_hi(const ledger_part_t *p)
{
    return p->state == LEDGER_ACTIVE && !p->paused ? p->hi : -1;
}

int ledger_can_seal(const ledger_t *l)
{
    return l->writer == W_IDLE && !l->held;
}

int ledger_seal(ledger_t *l, batch_t *b, int64_t now_us)
{
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(l, &i)) != NULL)
        if (p->dirty && batch_note_offset(b, schema_topics[p->topic].name, p->partition,
                                          p->fence, p->pos) != 0)
            return -1;
    i = 0;
    while ((p = ledger_next_part(l, &i)) != NULL) {
        if (p->dirty) {
            p->fence = p->pos;
            p->dirty = 0;
        }
    }
    l->writer = W_FLUSH;
    l->writer_since_us = now_us;
    l->backpressure = 0;
    return 0;
}

/* Every assigned partition reads its stored offset again. */
static void rewind_all(ledger_t *l)
{
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(l, &i)) != NULL) {
        p->state = LEDGER_LOADING;
        p->dirty = 0;
    }
    l->held = 0;
    l->retry_ms = 0;
    l->backpressure = 0;
    l->load_at_us = 0;
    l->load_retry_ms = 0;
}

ledger_settle_t ledger_written(ledger_t *l, const batch_t *b, ledger_write_t w, int64_t now_us)
{
    if (l->writer == W_FLUSH)
        l->writer = W_IDLE;
    l->pg_up = w != LEDGER_WRITE_RETRY;
    if (l->orphan) {
        l->orphan = 0;
        return LEDGER_ORPHAN;
    }
    switch (w) {
    case LEDGER_WRITE_OK:
        for (size_t i = 0; i < b->offset_count; i++) {
            const batch_offset_t *o = &b->offsets[i];
            ledger_part_t *p = ledger_find(l, schema_topic_from_name(o->topic), o->partition);
            if (p != NULL) {
                p->stored = o->next;
                p->since_us = now_us;
            }
        }
        l->held = 0;
        l->retry_ms = 0;
        return LEDGER_SETTLED;
    case LEDGER_WRITE_RETRY:
        l->held = 1;
        l->retry_ms = backoff(l->retry_ms, &l->conf);
        l->retry_at_us = now_us + (int64_t)l->retry_ms * 1000;
        return LEDGER_HOLD;
    default:
        rewind_all(l);
        return LEDGER_REWIND;
    }
}

int ledger_retry_due(ledger_t *l, int64_t now_us)
{
    if (!l->held || l->writer != W_IDLE || now_us < l->retry_at_us)
        return 0;
    l->writer = W_FLUSH;
    l->writer_since_us = now_us;
    return 1;
}

int64_t ledger_retry_at(const ledger_t *l) { return l->retry_at_us; }
int ledger_retry_ms(const ledger_t *l) { return l->retry_ms; }

void ledger_drop(ledger_t *l)
{
    if (l->writer == W_FLUSH)
        l->orphan = 1;
    rewind_all(l);
}

void ledger_backpressure(ledger_t *l, int on) { l->backpressure = on; }

void ledger_apply(ledger_t *l, ledger_apply_fn fn, void *arg)
{
    int hold = l->held || l->backpressure;
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(l, &i)) != NULL) {
        int want;

        if (p->state == LEDGER_SEEKING && !hold) {
            fn(arg, p, LEDGER_SEEK); /* seeks to pos and resumes */
            p->state = LEDGER_ACTIVE;
            p->paused = 0;
            continue;
        }
        want = p->state != LEDGER_ACTIVE || hold;
        if (want != p->paused) {
            fn(arg, p, want ? LEDGER_PAUSE : LEDGER_RESUME);
            p->paused = want;
        }
    }
}

int ledger_pg_up(const ledger_t *l) { return l->pg_up; }
int ledger_writer_busy(const ledger_t *l) { return l->writer != W_IDLE; }
int64_t ledger_writer_since(const ledger_t *l) { return l->writer_since_us; }

int ledger_settled(const ledger_t *l)
{
    size_t i = 0;
    ledger_part_t *p;

    if (l->writer != W_IDLE || l->held)
        return 0;
    while ((p = ledger_next_part(l, &i)) != NULL)
        if (p->state != LEDGER_ACTIVE || p->dirty || p->paused)
            return 0;
    return 1;
}

int64_t ledger_lag(const ledger_t *l)
{
    int64_t lag = 0;
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(l, &i)) != NULL) {
        int64_t base = p->stored > 0 ? p->stored : 0;
        if (p->hi > base)
            lag += p->hi - base;
    }
    return lag;
}

int ledger_health(const ledger_t *l, int kafka_up, int64_t now_us, char *detail, size_t size)
{
    int64_t stalled_lag = 0, oldest = now_us;
    int stalled = 0, n;
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(l, &i)) != NULL) {
        if (pending(l, p) && now_us - p->since_us >= l->conf.stall_us) {
            int64_t base = p->stored > 0 ? p->stored : 0;
            stalled++;
            stalled_lag += p->hi > base ? p->hi - base : 0;
            if (p->since_us < oldest)
                oldest = p->since_us;
        }
    }
    n = snprintf(detail, size, "postgres %s, kafka %s", l->pg_up ? "up" : "down",
                 kafka_up ? "up" : "down");
    if (l->writer != W_IDLE && now_us - l->writer_since_us >= l->conf.stall_us && n >= 0 &&
        (size_t)n < size)
        n += snprintf(detail + n, size - (size_t)n, ", a PostgreSQL %s has been running for %.0f s",
                      l->writer == W_FLUSH ? "write" : "read",
                      (double)(now_us - l->writer_since_us) / 1e6);
    if (stalled > 0 && n >= 0 && (size_t)n < size)
        snprintf(detail + n, size - (size_t)n,
                 ", stalled: %d partitions with %lld messages of lag made no progress for %.0f s",
                 stalled, (long long)stalled_lag, (double)(now_us - oldest) / 1e6);
    return l->pg_up && kafka_up && stalled == 0 &&
           !(l->writer != W_IDLE && now_us - l->writer_since_us >= l->conf.stall_us);
}
