/*
 * evtime.h - ecom-stream's event-time clock as a pure state machine:
 * tumbling windows, per-partition lateness verdicts, partition and stream
 * watermarks, idleness, the hand-off of what to persist with each batch,
 * and the set of open windows.
 *
 * Owns, per partition, the largest event time seen (max_ts) and its
 * committed copy; per clock, the open window starts and the counters. It
 * does not own the window figures (the caller aggregates them), offsets
 * (ledger.h) or anything in PostgreSQL. No librdkafka, libpq, clock or
 * socket call inside: the caller passes time in, so every sequence is a
 * millisecond unit test (stream/tests/test_evtime.c).
 *
 * Units. Event times (ts, max_ts, watermarks, window bounds) are
 * milliseconds since the Unix epoch, from the event's `timestamp`; they
 * must lie within +-EVTIME_TS_LIMIT. `now_us` is the caller's monotonic
 * clock in microseconds (ts_monotonic_us(), as the ledger gets it): only
 * differences of now_us are used, for idleness and for the idle close, and
 * never compared with event times. INT64_MIN means "nothing yet" (holds a
 * watermark back), INT64_MAX "holds nothing back".
 *
 * Windows: tumbling, aligned to the epoch: start = floor(ts / W) * W, end =
 * start + W; ts belongs to [start, end).
 *
 * Lateness (the only decision that touches figures): an event is late iff
 * end(ts) + lateness <= max_ts of its own partition before it. Late events
 * are counted, not windowed; both kinds raise max_ts only when greater. The
 * verdict depends on the partition's order alone, never on interleaving,
 * idleness or time, and max_ts is restored with the stored offset, so a
 * replay, a restart or a rebalance gives the verdicts of an uninterrupted
 * run.
 *
 * Watermarks. A partition's own watermark is max_ts - lateness. It is idle
 * when consuming, caught up (its last evtime_progress() had pos >= hi) and
 * quiet for idle_ms (no event, no backlog report, no restore); a partition
 * with a backlog, one never reported caught up, and one whose stored value
 * is still loading are never idle. The stream clock C(now) is:
 *  - while some assigned partition is not idle: the minimum of their own
 *    watermarks (INT64_MIN if one has no event yet or is loading);
 *  - when every assigned partition is idle: the idle close
 *    max(T - lateness, T + elapsed - close), T the largest max_ts of the
 *    assigned partitions and elapsed the wall time since the last event
 *    arrived (or partition was restored) anywhere in this clock. With the
 *    default close = lateness this is T - lateness + elapsed: event time
 *    goes on at wall speed after the traffic stops, so a window closes
 *    (end - T) + close of wall time after the last event. INT64_MAX when no
 *    assigned partition has ever seen an event;
 *  - INT64_MIN when no partition is assigned (nothing known; windows left
 *    open by revoked partitions close once the assigned ones pass them).
 * A partition's effective watermark, persisted with its offset, is its own
 * watermark, or max(own, C) when idle, so an idle partition never holds the
 * group back. The local watermark is the minimum of the assigned
 * partitions' effective watermarks, which is C. Watermarks can go down (an
 * idle partition wakes up, a restart forgets an idle advance): whoever
 * marks rows final must only ever set is_final, never clear it.
 *
 * The idle close is a guess: a partition that wakes up with old event times
 * can bring on-time events for a window already closed. They are still
 * on time (the verdict is the partition's), so figures stay those of a
 * replay; the window opens again, evtime_final() reports it a second time,
 * and evtime_reopened() counts such reopenings. Finalisation must be
 * idempotent.
 *
 * Hand-off (mirrors the ledger's two batches). Verdicts use the live max_ts
 * (the batch being filled). evtime_seal(), called right after ledger_seal()
 * with no event in between, snapshots every consuming partition: what to
 * persist with that batch, in the same transaction as its offset
 * (evtime_part_mark()). evtime_committed() after the write settles makes
 * the snapshot the committed copy. After ledger_drop() or LEDGER_REWIND,
 * evtime_rewind() puts max_ts back to the committed copy and waits for
 * evtime_restore() with PostgreSQL's value. Windows are reported final from
 * the committed copies only (the local watermark as of the last commit), so
 * a window evicted on evtime_final() can never receive an on-time event
 * from a re-read batch.
 *
 * Ownership: the clock owns its partition records (evtime_part_new(),
 * freed by evtime_destroy(); a record survives revocation and is reused on
 * reassignment, e.g. hung on ledger_part_t's `user`).
 *
 * Memory: one record per partition ever assigned, and one int64 per open
 * window: about (event-time spread of the local partitions + window +
 * lateness) / window, plus windows reopened after an idle close.
 */
#ifndef ECOM_EVTIME_H
#define ECOM_EVTIME_H

#include <stddef.h>
#include <stdint.h>

#define EVTIME_TS_LIMIT (INT64_C(1) << 53)   /* |ts| bound, ms: 285,000 years */
#define EVTIME_SPAN_LIMIT (INT64_C(1) << 40) /* bound of every conf span, ms: 34 years */
#define EVTIME_CLOSE_LATENESS (-1)           /* close_ms: the same as lateness_ms */

typedef struct {
    int64_t window_ms;   /* tumbling window length, 1 .. EVTIME_SPAN_LIMIT */
    int64_t lateness_ms; /* allowed lateness, 0 .. EVTIME_SPAN_LIMIT */
    int64_t idle_ms;     /* a caught-up partition quiet this long is idle */
    int64_t close_ms;    /* idle close (see above), or EVTIME_CLOSE_LATENESS */
} evtime_conf_t;

#define EVTIME_CONF_DEFAULTS                                                              \
    {                                                                                     \
        .window_ms = 30000, .lateness_ms = 10000, .idle_ms = 5000,                        \
        .close_ms = EVTIME_CLOSE_LATENESS                                                 \
    }

typedef enum {
    EVTIME_ERROR = -1, /* out of memory, ts out of range, or not consuming: nothing changed */
    EVTIME_ON_TIME = 0,
    EVTIME_LATE,
} evtime_verdict_t;

typedef struct evtime evtime_t;
typedef struct evtime_part evtime_part_t;

/* A clock, or NULL when conf is out of range or memory is short. NULL conf:
 * EVTIME_CONF_DEFAULTS. Free with evtime_destroy() (NULL is fine). */
evtime_t *evtime_new(const evtime_conf_t *conf);
void evtime_destroy(evtime_t *c);

/* The window holding ts (|ts| <= EVTIME_TS_LIMIT): start and end. Use these
 * to key window rows, so rows and verdicts agree. */
int64_t evtime_window_start(const evtime_t *c, int64_t ts);
int64_t evtime_window_end(const evtime_t *c, int64_t ts);

/* --- partitions -------------------------------------------------------- */
/* A new, unassigned partition record owned by c; NULL when out of memory. */
evtime_part_t *evtime_part_new(evtime_t *c);
/* Assigned: loading its stored value, holding the watermarks back. */
void evtime_assign(evtime_part_t *p);
/* Its stored max_ts was read with its stored offset (INT64_MIN: no row, or
 * none stored): consuming from there. Also the answer to evtime_rewind(). */
void evtime_restore(evtime_part_t *p, int64_t stored_max_ts, int64_t now_us);
/* The batches were dropped (ledger_drop(), LEDGER_REWIND): max_ts goes back
 * to the last committed value and the partition loads again; a snapshot in
 * flight is forgotten. No-op when unassigned. */
void evtime_rewind(evtime_part_t *p);
/* Revoked: no longer in any watermark; its record stays for a reassignment. */
void evtime_revoke(evtime_part_t *p);

/* --- events and progress ----------------------------------------------- */
/* The verdict for an event of the consuming partition p at ts (see above).
 * An on-time event opens its window. */
evtime_verdict_t evtime_event(evtime_part_t *p, int64_t ts, int64_t now_us);
/* Where the partition is (pos: next offset to consume, or librdkafka's
 * position) and its high watermark (hi, -1 unknown). pos >= hi >= 0 is
 * caught up; anything else is a backlog, which restarts the quiet time. */
void evtime_progress(evtime_part_t *p, int64_t pos, int64_t hi, int64_t now_us);

/* --- watermarks and metrics -------------------------------------------- */
int64_t evtime_part_max_ts(const evtime_part_t *p); /* live; INT64_MIN: none */
int evtime_part_idle(const evtime_part_t *p, int64_t now_us);
/* Effective watermark (INT64_MIN when not consuming): the per-partition
 * metric, and what evtime_seal() persists. */
int64_t evtime_part_watermark(const evtime_part_t *p, int64_t now_us);
int64_t evtime_part_late(const evtime_part_t *p);   /* late events of p, ever */
/* The local watermark: min over assigned partitions of their effective
 * watermarks (= C(now) above). */
int64_t evtime_watermark(const evtime_t *c, int64_t now_us);
int64_t evtime_late_events(const evtime_t *c);     /* all partitions, ever */
/* Windows opened again by an on-time event although they end at or before
 * the last window evtime_final() reported (an idle close came too early). */
int64_t evtime_reopened(const evtime_t *c);
size_t evtime_open_windows(const evtime_t *c);

/* --- hand-off with the writer ------------------------------------------ */
/* Snapshots every consuming partition for the batch just sealed. */
void evtime_seal(evtime_t *c, int64_t now_us);
/* 1 and the values to persist with p's offset when p is in the batch in
 * flight, else 0. Persist them for every partition sealed, also those whose
 * offset did not move: an idle partition's advance must reach PostgreSQL,
 * which finalises windows whose end <= min of the stored watermarks. */
int evtime_part_mark(const evtime_part_t *p, int64_t *max_ts, int64_t *watermark);
/* The batch in flight committed: its snapshots become the committed copy. */
void evtime_committed(evtime_t *c);
/* 1 when some consuming partition's effective watermark has passed a window
 * end that its committed (or in-flight) value had not: a seal is worth
 * making, even with no message (an idle stream closing a window). */
int evtime_seal_due(const evtime_t *c, int64_t now_us);
/* min over assigned partitions of the committed watermark (loading:
 * INT64_MIN; no partition: INT64_MIN). */
int64_t evtime_committed_watermark(const evtime_t *c);
/* Pops the oldest open window whose end <= evtime_committed_watermark():
 * 1 and *window_start, or 0 when none. Call until 0 after each commit; the
 * window's state may then be evicted. */
int evtime_final(evtime_t *c, int64_t *window_start);

#endif
