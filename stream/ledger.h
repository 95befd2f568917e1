/*
 * ledger.h - ecom-stream's exactly-once bookkeeping as a pure state
 * machine: per-partition positions, the reader/writer hand-off, settling a
 * write, retry and backoff, the offset fence's outcome, rewinds, offset
 * gaps and topic resets, stalls and idleness.
 *
 * Events in (assignments, stored offsets read, messages, write results,
 * time), decisions out (a verdict per message, the offsets a batch moves,
 * which partitions to pause, resume or seek, when to retry, whether the
 * stream is healthy). No librdkafka, libpq, clock or socket call inside:
 * the caller (ingest.c) performs the actions and passes `now` in, so every
 * sequence is a millisecond unit test (stream/tests/test_ledger.c).
 *
 * Partition positions: `stored` is what stream_offsets holds as far as this
 * instance knows (-1: no row), `fence` what the next batch's offset fence
 * expects (stored once the write in flight commits), `pos` the next offset
 * expected from Kafka (one past the last message batched).
 *
 * Ownership: the ledger owns its partition records (ledger_destroy); a
 * record's `user` pointer belongs to whoever set it. Batches are the
 * caller's; ledger_seal() only notes offsets in one.
 */
#ifndef ECOM_LEDGER_H
#define ECOM_LEDGER_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LEDGER_UNASSIGNED = 0,
    LEDGER_LOADING,  /* assigned; its stored offset must be read first */
    LEDGER_SEEKING,  /* stored offset known; Kafka must seek to pos */
    LEDGER_ACTIVE,   /* consuming from pos */
} ledger_state_t;

typedef struct {
    int topic;          /* schema_topic_t */
    int32_t partition;
    ledger_state_t state;
    int paused;         /* as last told to the caller */
    int dirty;          /* the batch being filled moves this partition */
    int64_t stored;
    int64_t fence;
    int64_t pos;
    int64_t lo, hi;       /* Kafka's cached watermarks, -1 unknown */
    int64_t since_us;     /* last time it made progress or had nothing pending */
    int64_t holes;        /* offsets skipped that were not lost (markers) */
    void *io;             /* the caller's handles (ingest.c: its gauges) */
    void *user;           /* per-partition state of a later module */
} ledger_part_t;

typedef struct {
    int retry_min_ms;   /* write and load backoff: from this ... */
    int retry_max_ms;   /* ... doubling up to this */
    int64_t stall_us;   /* pending work without progress this long: unhealthy */
} ledger_conf_t;

typedef enum {
    LEDGER_TAKE = 0,  /* batch it (after recording *gap if gap->kind) */
    LEDGER_SKIP,      /* already batched or stored: a re-fetch */
    LEDGER_IGNORE,    /* the partition is not consuming (loading, seeking, unassigned) */
} ledger_verdict_t;

typedef struct {
    const char *kind; /* NULL: none; "retention" (lost) or "reset" (reused) */
    int64_t first, last;
    int64_t holes;    /* offsets skipped that the broker still holds: not lost */
} ledger_gap_t;

/* Outcome of a write as the writer reports it. */
typedef enum {
    LEDGER_WRITE_OK = 0,
    LEDGER_WRITE_RETRY,        /* PostgreSQL trouble: nothing written */
    LEDGER_WRITE_FENCED_LOST,  /* stored offsets behind the fence: a lost commit */
    LEDGER_WRITE_FENCED_OTHER, /* stored offsets ahead: another instance */
} ledger_write_t;

/* What ledger_written() asks of the caller. */
typedef enum {
    LEDGER_SETTLED = 0,  /* committed: account for it, reset the batch */
    LEDGER_HOLD,         /* keep the batch; retry at ledger_retry_at() */
    LEDGER_REWIND,       /* drop both batches; partitions reload their offsets */
    LEDGER_ORPHAN,       /* the write belonged to a dropped assignment: reset it, nothing else */
} ledger_settle_t;

typedef enum { LEDGER_PAUSE, LEDGER_RESUME, LEDGER_SEEK } ledger_action_t;
/* Called by ledger_apply() for each partition whose consumption must
 * change; LEDGER_SEEK means seek to p->pos and resume. */
typedef void (*ledger_apply_fn)(void *arg, ledger_part_t *p, ledger_action_t a);

typedef struct ledger ledger_t;

ledger_t *ledger_new(const ledger_conf_t *conf);
void ledger_destroy(ledger_t *l);

/* --- assignment -------------------------------------------------------- */
/* A partition was assigned: it is paused and loads its stored offset.
 * Returns its record, or NULL when out of memory or out of range. */
ledger_part_t *ledger_assign(ledger_t *l, int topic, int32_t partition, int64_t now_us);
/* A partition was revoked (after its batch was flushed or dropped). */
void ledger_revoke(ledger_t *l, int topic, int32_t partition);
/* The assigned record for (topic, partition), or NULL. */
ledger_part_t *ledger_find(const ledger_t *l, int topic, int32_t partition);
/* Iterates over assigned partitions: *i starts at 0. */
ledger_part_t *ledger_next_part(const ledger_t *l, size_t *i);
/* Iterates over every record, assigned or not (to free io and user). */
ledger_part_t *ledger_next_record(const ledger_t *l, size_t *i);

/* --- reading stored offsets -------------------------------------------- */
/* When the writer is free and no retry waits: fills out with up to max
 * partitions to load and marks the writer busy; returns how many (0: none
 * due). */
size_t ledger_load_due(ledger_t *l, int64_t now_us, ledger_part_t **out, size_t max);
/* One partition's stored offset was read: found (a row), next, and whether
 * the row belongs to another Kafka cluster. Fills *gap with the reset to
 * record when it does (the partition then starts from 0). */
void ledger_loaded(ledger_t *l, ledger_part_t *p, int found, int64_t next,
                   int other_cluster, ledger_gap_t *gap);
/* The load job ended; ok = 0 when PostgreSQL failed (the partitions that
 * were not loaded retry with backoff). */
void ledger_load_done(ledger_t *l, int ok, int64_t now_us);

/* --- messages ---------------------------------------------------------- */
/* Decides what to do with a message at offset, given Kafka's cached
 * watermarks of its partition (lo, hi; -1 unknown), and advances pos when
 * it is taken. A hole below lo is lost data ("retention"); a hole the
 * broker still holds is transaction markers or aborted records (counted in
 * gap->holes, not lost); an offset below pos is a re-fetch unless the log
 * now ends before pos (the topic was recreated: "reset"). */
ledger_verdict_t ledger_message(ledger_t *l, ledger_part_t *p, int64_t offset,
                                int64_t lo, int64_t hi, ledger_gap_t *gap);
/* Kafka's latest watermarks, for lag and stall detection. When retention
 * emptied the log past pos (lo == hi > pos: no message will ever come to
 * show the hole), fills *gap with the lost range and moves pos to lo. */
void ledger_watermarks(ledger_part_t *p, int64_t lo, int64_t hi, int64_t now_us,
                       ledger_gap_t *gap);
/* The high watermark to judge p's backlog by (evtime_progress()): the
 * cached hi, or -1 (unknown) while p is paused or not active. A paused
 * partition is not fetched, so librdkafka's cached hi stops moving while
 * the producers go on: taken as it is, a partition held back by a slow or
 * unreachable PostgreSQL would look caught up, then idle, and the idle
 * close would move the watermark past the events still in Kafka. */
int64_t ledger_backlog_hi(const ledger_part_t *p);

/* --- writing ----------------------------------------------------------- */
/* 1 when a new batch may be handed to the writer now. */
int ledger_can_seal(const ledger_t *l);
/* Notes in b the offsets the batch moves (fence -> pos of every dirty
 * partition) and marks the writer busy. Returns 0, or -1 when out of
 * memory (nothing changed). */
int ledger_seal(ledger_t *l, batch_t *b, int64_t now_us);
/* The write of b ended with w. */
ledger_settle_t ledger_written(ledger_t *l, const batch_t *b, ledger_write_t w, int64_t now_us);
/* A held batch may be written again now (marks the writer busy). */
int ledger_retry_due(ledger_t *l, int64_t now_us);
int64_t ledger_retry_at(const ledger_t *l);
int ledger_retry_ms(const ledger_t *l);
/* Forget every batched message (the batches were dropped: a revocation
 * while PostgreSQL is unavailable, a shutdown): assigned partitions reload
 * their stored offsets. A write still running becomes an orphan. */
void ledger_drop(ledger_t *l);
/* The caller waited too long for the batch being filled: 1 pauses every
 * partition until the next seal. */
void ledger_backpressure(ledger_t *l, int on);

/* --- consumption control, health --------------------------------------- */
/* Calls fn for every partition whose pause state or position must change. */
void ledger_apply(ledger_t *l, ledger_apply_fn fn, void *arg);
/* 1 when PostgreSQL answered the last job. */
int ledger_pg_up(const ledger_t *l);
/* 1 when the writer is busy, and since when. */
int ledger_writer_busy(const ledger_t *l);
int64_t ledger_writer_since(const ledger_t *l);
/* 1 when nothing is pending: no partition loading or seeking, no write
 * running or held, nothing batched. */
int ledger_settled(const ledger_t *l);
/* 1 when healthy; otherwise writes why into detail ("postgres down",
 * "stalled: ..."). kafka_up is the caller's view of the brokers. */
int ledger_health(const ledger_t *l, int kafka_up, int64_t now_us, char *detail, size_t size);
/* Sum over assigned partitions of hi - stored (where hi is known). */
int64_t ledger_lag(const ledger_t *l);

#endif
