/*
 * ingest.c - the consume -> validate -> batch -> flush cycle (see ingest.h):
 * a thin adapter that performs what the ledger (ledger.c) decides.
 *
 * Owns: the librdkafka consumer, the two batches (one being filled, one
 * being written or held for a retry), the PostgreSQL worker thread
 * (flusher.c) and its sink, the ledger, the stream metrics and the health
 * verdict published for the HTTP thread. Only the worker thread talks to
 * PostgreSQL; this thread never blocks on it except for bounded waits at a
 * revocation and at shutdown.
 */
#include "ingest.h"
#include "batch.h"
#include "elog.h"
#include "evtime.h"
#include "flusher.h"
#include "ledger.h"
#include "rows.h"
#include "schema.h"
#include "sink.h"
#include "term.h"
#include "ts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 5000
#define REVOKE_WAIT_US (5 * 1000000LL)   /* flush before giving partitions up */
#define SHUTDOWN_WAIT_US (8 * 1000000LL) /* flush at SIGTERM */
#define EXIT_WAIT_US (1 * 1000000LL)     /* then the worker, then the close */
#define FULL_WAIT_US 1000000LL           /* a full batch waits this long, then pauses */
#define MAX_LOADS 1024
#define SLOW_JOB_US (10 * 1000000LL)     /* a PostgreSQL job this long is worth a warning */
#define META_WAIT_MS 500                 /* per topic, learning its partition count */
#define META_EVERY_US (10 * 1000000LL)   /* and again this often (partitions added) */

typedef struct {
    metrics_gauge_t *lag, *committed, *watermark;
} part_metrics_t;

typedef struct {
    metrics_counter_t *consumed, *stored, *duplicates, *dead, *rejected, *gaps, *holes;
} topic_metrics_t;

struct ingest {
    ingest_conf_t conf;
    rd_kafka_t *rk;
    sink_t *sink;
    flusher_t *flusher;
    ledger_t *ledger;
    evtime_t *clock;    /* event time: lateness and watermarks (p->user) */
    batch_t batch;      /* being filled from Kafka */
    batch_t inflight;   /* being written, or held for a retry */
    int loading;        /* the worker runs a load job over loads[] */
    flusher_load_t loads[MAX_LOADS];
    ledger_part_t *load_parts[MAX_LOADS];
    size_t load_count;
    rows_conf_t rows;
    int cooperative;    /* incremental rebalancing (cooperative-sticky) */
    int assigned_once;  /* --exit-when-idle counts only after an assignment */
    int failed;         /* out of memory: exit 1 */
    int was_down;       /* the last write or load failed */
    char cluster_id[128];
    int group_partitions; /* of the subscribed topics; 0 not learned yet */
    int partitions_due;   /* a rebalance happened: learn them again */
    int64_t next_meta_us;
    int64_t last_message_us, idle_since_us, full_since_us;
    int64_t warned_job_us; /* writer_since of the slow job last warned about */
    atomic_int kafka_up;
    pthread_mutex_t health_lock;
    int healthy;
    char health[256];
    metrics_t *metrics;
    topic_metrics_t tm[SCHEMA_TOPICS];
    metrics_counter_t *flushes, *pg_errors, *fenced, *lost_commits, *kafka_errors;
    metrics_histogram_t *flush_seconds, *latency;
    metrics_gauge_t *pg_up_gauge, *batch_messages;
    metrics_gauge_t *open_windows, *stream_watermark;
    metrics_gauge_t *stored_open_windows, *state_entries, *state_bytes;
    metrics_counter_t *late_events;
    metrics_counter_t *fraud_alerts[ALERTS_RULES], *inventory_alerts[ALERTS_STATES];
    int64_t late_counted; /* of evtime_late_events(), added to late_events */
};

static const double flush_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,   0.25,   0.5,   1,    2.5,   5};
static const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3,
                                        0.5,   0.75, 1,     2,    5,   10,  30,  60};

static void init_metrics(ingest_t *in)
{
    metrics_t *m = in->metrics;

    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        const char *topic = schema_topics[t].name;
        in->tm[t].consumed = metrics_counter(m, "messages_consumed_total",
            "Kafka messages consumed and committed to PostgreSQL", "topic=\"%s\"", topic);
        in->tm[t].stored = metrics_counter(m, "messages_stored_total",
            "Valid messages stored in raw tables (duplicates excluded)", "topic=\"%s\"", topic);
        in->tm[t].duplicates = metrics_counter(m, "messages_duplicate_total",
            "Valid messages whose id was already stored", "topic=\"%s\"", topic);
        in->tm[t].dead = metrics_counter(m, "messages_dead_lettered_total",
            "Messages written to dead_letter_events", "topic=\"%s\"", topic);
        in->tm[t].rejected = metrics_counter(m, "messages_rejected_total",
            "Valid messages whose rows PostgreSQL rejected: dead-lettered with its error (also in messages_dead_lettered_total)",
            "topic=\"%s\"", topic);
        in->tm[t].gaps = metrics_counter(m, "offset_gaps_total",
            "Offset ranges lost to retention or topic resets (see stream_gaps)", "topic=\"%s\"", topic);
        in->tm[t].holes = metrics_counter(m, "offset_holes_total",
            "Offsets skipped that the broker still holds (transaction markers, aborted records): not lost",
            "topic=\"%s\"", topic);
    }
    in->flushes = metrics_counter(m, "flushes_total", "Batches committed to PostgreSQL", METRICS_NO_LABELS);
    in->pg_errors = metrics_counter(m, "postgres_errors_total", "Failed PostgreSQL writes, reads or connects", METRICS_NO_LABELS);
    in->fenced = metrics_counter(m, "fenced_batches_total",
        "Batches dropped because stream_offsets did not hold what they expected", METRICS_NO_LABELS);
    in->lost_commits = metrics_counter(m, "lost_commits_total",
        "Partitions whose stored offset went back: PostgreSQL lost a commit (crash with synchronous_commit=off)",
        METRICS_NO_LABELS);
    in->kafka_errors = metrics_counter(m, "kafka_errors_total", "Kafka consumer errors", METRICS_NO_LABELS);
    in->flush_seconds = metrics_histogram(m, "flush_duration_seconds", "PostgreSQL flush transaction time",
        flush_bounds, sizeof(flush_bounds) / sizeof(flush_bounds[0]), METRICS_NO_LABELS);
    in->latency = metrics_histogram(m, "commit_latency_seconds",
        "Kafka message timestamp to PostgreSQL commit", latency_bounds,
        sizeof(latency_bounds) / sizeof(latency_bounds[0]), METRICS_NO_LABELS);
    in->pg_up_gauge = metrics_gauge(m, "postgres_up", "1 when PostgreSQL is reachable", METRICS_NO_LABELS);
    in->batch_messages = metrics_gauge(m, "batch_messages", "Messages waiting in the current batch", METRICS_NO_LABELS);
    in->open_windows = metrics_gauge(m, "open_windows",
        "Event-time windows with on-time events not yet final by the committed watermark", METRICS_NO_LABELS);
    in->stream_watermark = metrics_gauge(m, "watermark_seconds",
        "This instance's event-time watermark (min over its partitions), epoch seconds", METRICS_NO_LABELS);
    in->late_events = metrics_counter(m, "late_events_total",
        "Events stored raw but left out of their window: later than the allowed lateness", METRICS_NO_LABELS);
    in->stored_open_windows = metrics_gauge(m, "stored_open_windows",
        "Traffic windows not final in PostgreSQL (every instance of the group), read every 10 s",
        METRICS_NO_LABELS);
    in->state_entries = metrics_gauge(m, "state_entries",
        "Members of the exact distinct-count sets held in PostgreSQL until their window has been final a while",
        "store=\"window_users_sessions\"");
    in->state_bytes = metrics_gauge(m, "state_bytes",
        "Bytes of those sets' tables with their indexes", "store=\"window_users_sessions\"");
    for (int r = 0; r < ALERTS_RULES; r++)
        in->fraud_alerts[r] = metrics_counter(m, "fraud_alerts_total", "Fraud alerts inserted, by rule",
            "rule=\"%s\"", alerts_rule_name((alerts_rule_t)r));
    for (int st = 0; st < ALERTS_STATES; st++)
        in->inventory_alerts[st] = metrics_counter(m, "inventory_alerts_total",
            "Inventory alerts inserted, by state", "state=\"%s\"", alerts_state_name((alerts_state_t)st));
}

/* The partition's gauges, made on its first assignment. */
static part_metrics_t *part_metrics(ingest_t *in, ledger_part_t *p)
{
    part_metrics_t *pm = p->io;

    if (pm == NULL && (pm = calloc(1, sizeof(*pm))) != NULL) {
        const char *topic = schema_topics[p->topic].name;
        pm->lag = metrics_gauge(in->metrics, "consumer_lag_messages",
            "High watermark minus the next offset to store", "topic=\"%s\",partition=\"%d\"",
            topic, (int)p->partition);
        pm->committed = metrics_gauge(in->metrics, "committed_offset",
            "Next offset stored in stream_offsets", "topic=\"%s\",partition=\"%d\"", topic,
            (int)p->partition);
        pm->watermark = metrics_gauge(in->metrics, "partition_watermark_seconds",
            "The partition's effective event-time watermark, epoch seconds (0: none yet)",
            "topic=\"%s\",partition=\"%d\"", topic, (int)p->partition);
        p->io = pm;
    }
    return pm;
}

static void set_committed_gauge(ingest_t *in, ledger_part_t *p, int64_t next)
{
    part_metrics_t *pm = part_metrics(in, p);
    if (pm != NULL)
        metrics_gauge_set(pm->committed, (double)(next < 0 ? 0 : next));
}

/* --- event time ---------------------------------------------------------- */

/* The partition's event-time record (owned by the clock), made on its first
 * assignment; NULL when out of memory. */
static evtime_part_t *part_clock(ingest_t *in, ledger_part_t *p)
{
    if (p->user == NULL)
        p->user = evtime_part_new(in->clock);
    return p->user;
}

typedef struct {
    evtime_part_t *part;
    int64_t now_us;
} late_arg_t;

/* rows.c asks this once it has parsed a valid message's timestamp. */
static int is_late(void *arg, int64_t event_ms)
{
    late_arg_t *a = arg;
    return evtime_event(a->part, event_ms, a->now_us) == EVTIME_LATE;
}

/* Every consuming partition goes into the batch about to be sealed (an
 * idle one at its unchanged position: ledger_seal() notes it and moves its
 * fence as for any other), so that PostgreSQL holds every partition's
 * watermark (windows are final when all of the group's have passed them). */
static void mark_consuming(ingest_t *in)
{
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(in->ledger, &i)) != NULL)
        if (p->state == LEDGER_ACTIVE && p->user != NULL)
            p->dirty = 1;
}

/* The sealed batch's partitions get the max_event_time and watermark of
 * evtime_seal()'s snapshots. */
static void note_marks(ingest_t *in, batch_t *b)
{
    size_t i = 0;
    ledger_part_t *p;
    int64_t max_ts, wm;

    while ((p = ledger_next_part(in->ledger, &i)) != NULL)
        if (p->user != NULL && evtime_part_mark(p->user, &max_ts, &wm))
            (void)batch_note_mark(b, schema_topics[p->topic].name, p->partition, max_ts, wm);
}

/* Batches were dropped: every partition's event time goes back to its
 * committed value until its stored offset is read again. */
static void rewind_clocks(ingest_t *in)
{
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(in->ledger, &i)) != NULL)
        if (p->user != NULL)
            evtime_rewind(p->user);
}

/* Seconds for a watermark gauge: 0 while there is none. */
static double watermark_s(int64_t ms)
{
    return ms == INT64_MIN || ms == INT64_MAX ? 0 : (double)ms / 1000.0;
}

static void update_clock_metrics(ingest_t *in, int64_t now)
{
    int64_t late = evtime_late_events(in->clock), start;

    while (evtime_final(in->clock, &start))
        ; /* final by the committed watermark: no longer held */
    metrics_counter_add(in->late_events, (uint64_t)(late - in->late_counted));
    in->late_counted = late;
    metrics_gauge_set(in->open_windows, (double)evtime_open_windows(in->clock));
    metrics_gauge_set(in->stream_watermark, watermark_s(evtime_watermark(in->clock, now)));
}

/* --- consumption control ------------------------------------------------ */

typedef struct {
    rd_kafka_topic_partition_list_t *pause, *resume, *seek;
} changes_t;

static void collect_change(void *arg, ledger_part_t *p, ledger_action_t a)
{
    changes_t *c = arg;
    const char *topic = schema_topics[p->topic].name;

    if (a == LEDGER_PAUSE)
        rd_kafka_topic_partition_list_add(c->pause, topic, p->partition);
    else if (a == LEDGER_RESUME)
        rd_kafka_topic_partition_list_add(c->resume, topic, p->partition);
    else
        rd_kafka_topic_partition_list_add(c->seek, topic, p->partition)->offset =
            p->pos > 0 ? p->pos : RD_KAFKA_OFFSET_BEGINNING;
}

/* Pauses, resumes and seeks what the ledger asks for. */
static void apply_changes(ingest_t *in)
{
    changes_t c = {rd_kafka_topic_partition_list_new(8), rd_kafka_topic_partition_list_new(8),
                   rd_kafka_topic_partition_list_new(8)};
    rd_kafka_error_t *error;

    ledger_apply(in->ledger, collect_change, &c);
    if (c.pause->cnt > 0) {
        rd_kafka_pause_partitions(in->rk, c.pause);
        LOG_INFO("paused consumption of %d partitions", c.pause->cnt);
    }
    if (c.seek->cnt > 0) {
        error = rd_kafka_seek_partitions(in->rk, c.seek, 5000);
        if (error != NULL) {
            LOG_ERROR("could not seek to the stored offsets: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
        for (int i = 0; i < c.seek->cnt; i++)
            if (c.seek->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
                LOG_ERROR("could not seek %s [%d] to offset %lld: %s", c.seek->elems[i].topic,
                          (int)c.seek->elems[i].partition, (long long)c.seek->elems[i].offset,
                          rd_kafka_err2str(c.seek->elems[i].err));
        for (int i = 0; i < c.seek->cnt; i++)
            rd_kafka_topic_partition_list_add(c.resume, c.seek->elems[i].topic,
                                              c.seek->elems[i].partition);
    }
    if (c.resume->cnt > 0) {
        rd_kafka_resume_partitions(in->rk, c.resume);
        LOG_INFO("resumed consumption of %d partitions", c.resume->cnt);
    }
    rd_kafka_topic_partition_list_destroy(c.pause);
    rd_kafka_topic_partition_list_destroy(c.resume);
    rd_kafka_topic_partition_list_destroy(c.seek);
}

static void set_pg_up(ingest_t *in, int up, const char *why)
{
    if (up && in->was_down)
        LOG_INFO("PostgreSQL is back%s", why);
    in->was_down = !up;
    metrics_gauge_set(in->pg_up_gauge, up);
}

/* --- results of the worker's jobs -------------------------------------- */

static void account_committed(ingest_t *in, const batch_t *b, const sink_result_t *res)
{
    int64_t now_ms = ts_now_ms();

    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        int table = batch_topic_table((schema_topic_t)t);
        metrics_counter_add(in->tm[t].stored, (uint64_t)res->inserted[table]);
        metrics_counter_add(in->tm[t].duplicates, (uint64_t)(res->staged[table] - res->inserted[table]));
        metrics_counter_add(in->tm[t].consumed, (uint64_t)b->consumed[t]);
        metrics_counter_add(in->tm[t].dead, (uint64_t)(b->dead[t] + res->rejected[t]));
        metrics_counter_add(in->tm[t].rejected, (uint64_t)res->rejected[t]);
        metrics_counter_add(in->tm[t].gaps, (uint64_t)b->gaps[t]);
    }
    for (size_t i = 0; i < b->create_count; i++)
        metrics_histogram_observe(in->latency, (double)(now_ms - b->create_ms[i]) / 1000.0);
    for (size_t i = 0; i < b->offset_count; i++) {
        ledger_part_t *p = ledger_find(in->ledger, schema_topic_from_name(b->offsets[i].topic),
                                       b->offsets[i].partition);
        if (p != NULL)
            set_committed_gauge(in, p, b->offsets[i].next);
    }
    metrics_counter_add(in->flushes, 1);
    metrics_histogram_observe(in->flush_seconds, res->seconds);
    for (int r = 0; r < ALERTS_RULES; r++)
        metrics_counter_add(in->fraud_alerts[r], (uint64_t)res->analytics.alerts.fraud[r]);
    for (int st = 0; st < ALERTS_STATES; st++)
        metrics_counter_add(in->inventory_alerts[st], (uint64_t)res->analytics.alerts.inventory[st]);
    if (res->state_read) {
        metrics_gauge_set(in->stored_open_windows, (double)res->state.open_windows);
        metrics_gauge_set(in->state_entries, (double)res->state.set_entries);
        metrics_gauge_set(in->state_bytes, (double)res->state.set_bytes);
    }
}

static void commit_to_kafka(ingest_t *in, const batch_t *b)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)b->offset_count);
    rd_kafka_resp_err_t err;

    for (size_t i = 0; i < b->offset_count; i++) {
        const batch_offset_t *o = &b->offsets[i];
        rd_kafka_topic_partition_list_add(list, o->topic, o->partition)->offset = o->next;
    }
    if (list->cnt > 0 && (err = rd_kafka_commit(in->rk, list, 1)) != RD_KAFKA_RESP_ERR_NO_ERROR)
        LOG_WARN("could not commit offsets to Kafka (PostgreSQL holds them): %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

static void settle_flush(ingest_t *in, sink_status_t st, const sink_result_t *res)
{
    ledger_write_t w = st == SINK_OK ? LEDGER_WRITE_OK
                     : st == SINK_RETRY ? LEDGER_WRITE_RETRY
                     : res->fence_lost > 0 ? LEDGER_WRITE_FENCED_LOST : LEDGER_WRITE_FENCED_OTHER;
    size_t held = in->inflight.messages + in->batch.messages;
    int64_t now = ts_monotonic_us();

    switch (ledger_written(in->ledger, &in->inflight, w, now)) {
    case LEDGER_SETTLED:
        evtime_committed(in->clock);
        account_committed(in, &in->inflight, res);
        commit_to_kafka(in, &in->inflight);
        set_pg_up(in, 1, "; the kept batch is committed");
        batch_reset(&in->inflight);
        break;
    case LEDGER_HOLD:
        metrics_counter_add(in->pg_errors, 1);
        set_pg_up(in, 0, "");
        LOG_WARN("PostgreSQL write failed; keeping %zu messages and retrying in %d ms", held,
                 ledger_retry_ms(in->ledger));
        break;
    case LEDGER_REWIND:
        metrics_counter_add(in->fenced, 1);
        set_pg_up(in, 1, "");
        LOG_WARN("offset fence failed: dropping %zu batched messages and re-reading every partition's stored offset",
                 held);
        rewind_clocks(in);
        batch_reset(&in->inflight);
        batch_reset(&in->batch);
        break;
    case LEDGER_ORPHAN:
        LOG_INFO("a write of dropped batches ended (%s); the offset fence keeps it exactly once",
                 st == SINK_OK ? "committed" : "not committed");
        batch_reset(&in->inflight);
        break;
    }
}

/* Applies one partition's stored offset, read by a load job. */
static void settle_loaded_part(ingest_t *in, ledger_part_t *p, const flusher_load_t *it)
{
    const char *topic = schema_topics[p->topic].name;
    int other_cluster = it->found == 1 && in->cluster_id[0] != '\0' && it->cluster[0] != '\0' &&
                        strcmp(it->cluster, in->cluster_id) != 0;
    int64_t expected = p->stored; /* what this instance last knew, -1: nothing */
    int was_loading = p->state == LEDGER_LOADING;
    ledger_gap_t gap;

    ledger_loaded(in->ledger, p, it->found == 1, it->next, other_cluster, &gap);
    if (!was_loading)
        return;
    if (p->user != NULL)
        evtime_restore(p->user, it->found == 1 && gap.kind == NULL ? it->max_ts : INT64_MIN,
                       ts_monotonic_us());
    if (gap.kind != NULL) {
        LOG_ERROR("%s [%d]: offsets 0..%lld were stored for Kafka cluster \"%s\", this is \"%s\": reading from the beginning; recorded in stream_gaps",
                  topic, (int)p->partition, (long long)gap.last, it->cluster, in->cluster_id);
        rows_add_gap(&in->batch, in->conf.group, topic, p->partition, gap.first, gap.last, gap.kind);
        in->batch.gaps[p->topic]++;
    }
    if (expected >= 0 && it->found == 1 && it->next < expected) {
        metrics_counter_add(in->lost_commits, 1);
        LOG_ERROR("%s [%d]: PostgreSQL lost a commit: stream_offsets holds %lld, this instance had committed up to %lld (a crash with synchronous_commit=off loses the last commits); re-reading from %lld",
                  topic, (int)p->partition, (long long)it->next, (long long)expected,
                  (long long)it->next);
    } else if (expected >= 0 && it->found == 1 && it->next > expected) {
        LOG_WARN("%s [%d]: another instance stored offsets %lld..%lld; resuming at %lld", topic,
                 (int)p->partition, (long long)expected, (long long)it->next - 1,
                 (long long)it->next);
    } else {
        LOG_INFO("%s [%d]: resuming at offset %lld%s", topic, (int)p->partition,
                 (long long)p->pos, it->found == 1 ? "" : " (no stored offset: from the beginning)");
    }
    set_committed_gauge(in, p, it->found == 1 ? it->next : 0);
}

static void settle_load(ingest_t *in, sink_status_t st)
{
    int64_t now = ts_monotonic_us();

    for (size_t i = 0; i < in->load_count; i++)
        if (in->loads[i].found >= 0)
            settle_loaded_part(in, in->load_parts[i], &in->loads[i]);
    in->loading = 0;
    ledger_load_done(in->ledger, st == SINK_OK, now);
    if (st != SINK_OK) {
        metrics_counter_add(in->pg_errors, 1);
        set_pg_up(in, 0, "");
        LOG_WARN("could not read the stored offsets of %zu partitions; retrying", in->load_count);
    } else {
        set_pg_up(in, 1, "");
    }
}

/* Collects a finished job (waiting until deadline_us at most; 0: do not
 * wait). Returns 1 when one was collected. */
static int collect_job(ingest_t *in, int64_t deadline_us)
{
    sink_status_t st;
    sink_result_t res;

    if (!flusher_running(in->flusher))
        return 0;
    if (!(deadline_us > 0 ? flusher_wait_until(in->flusher, deadline_us, &st, &res)
                          : flusher_poll(in->flusher, &st, &res)))
        return 0;
    if (in->loading)
        settle_load(in, st);
    else
        settle_flush(in, st, &res);
    return 1;
}

/* Stops with exit status 1 after running out of memory: nothing partial
 * is written (the messages are consumed again after a restart). */
static void fail_oom(ingest_t *in, const char *what)
{
    LOG_ERROR("out of memory while %s; exiting without writing the incomplete batch", what);
    in->failed = 1;
    ledger_drop(in->ledger);
    batch_reset(&in->batch);
    term_request();
}

/* Hands the batch being filled to the worker. */
static void seal_and_write(ingest_t *in)
{
    batch_t swap;

    int64_t now = ts_monotonic_us();

    mark_consuming(in);
    in->batch.group_partitions = in->group_partitions;
    if (ledger_seal(in->ledger, &in->batch, now) != 0) {
        fail_oom(in, "noting the batch's offsets");
        return;
    }
    evtime_seal(in->clock, now);
    note_marks(in, &in->batch);
    swap = in->inflight;
    in->inflight = in->batch;
    in->batch = swap;
    in->full_since_us = 0;
    flusher_start(in->flusher, &in->inflight);
}

static int batch_has_rows(const batch_t *b)
{
    return b->messages > 0 || b->tables[BATCH_GAPS].rows > 0;
}

/* Starts what is due on the worker: a retry of the held batch, a load of
 * stored offsets, or the next batch; then applies pauses and seeks. */
static void pump(ingest_t *in, int flush_now)
{
    int64_t now = ts_monotonic_us();
    ledger_part_t *due[MAX_LOADS];
    size_t n;

    collect_job(in, 0);
    if (ledger_retry_due(in->ledger, now)) {
        flusher_start(in->flusher, &in->inflight);
    } else if ((n = ledger_load_due(in->ledger, now, due, MAX_LOADS)) > 0) {
        for (size_t i = 0; i < n; i++) {
            in->load_parts[i] = due[i];
            in->loads[i] = (flusher_load_t){schema_topics[due[i]->topic].name, due[i]->partition,
                                            -1, 0, "", BATCH_NO_TIME};
        }
        in->load_count = n;
        in->loading = 1;
        flusher_start_load(in->flusher, in->loads, n);
    } else if (flush_now && (batch_has_rows(&in->batch) || evtime_seal_due(in->clock, now)) &&
               ledger_can_seal(in->ledger)) {
        seal_and_write(in);
    }
    apply_changes(in);
}

/* Writes everything batched so far, waiting until deadline_us. Returns 0
 * when all of it is committed (or was dropped by a fence), -1 otherwise. */
static int flush_all(ingest_t *in, int64_t deadline_us)
{
    while (ts_monotonic_us() < deadline_us) {
        if (flusher_running(in->flusher)) {
            collect_job(in, deadline_us);
        } else if (ledger_retry_due(in->ledger, ts_monotonic_us())) {
            flusher_start(in->flusher, &in->inflight);
        } else if (in->inflight.messages > 0 || in->inflight.offset_count > 0) {
            if (ledger_retry_at(in->ledger) >= deadline_us)
                return -1;
            ts_sleep_until_us(ledger_retry_at(in->ledger), 50);
        } else if (batch_has_rows(&in->batch) && ledger_can_seal(in->ledger)) {
            seal_and_write(in);
        } else {
            return 0;
        }
    }
    return -1;
}

/* Forgets both batches: assigned partitions re-read their stored offsets. */
static void drop_batches(ingest_t *in, const char *why)
{
    size_t n = in->inflight.messages + in->batch.messages;

    if (n > 0)
        LOG_WARN("%s: dropping %zu uncommitted messages; they are consumed again", why, n);
    ledger_drop(in->ledger);
    rewind_clocks(in);
    if (!flusher_running(in->flusher))
        batch_reset(&in->inflight); /* else reset when the orphan write ends */
    batch_reset(&in->batch);
}

/* --- rebalancing -------------------------------------------------------- */

/* Runs inside rd_kafka_consumer_poll() on the ingest thread. Never waits
 * for PostgreSQL on an assignment (the stored offsets are read by the
 * worker; the partitions stay paused until then); waits at most
 * REVOKE_WAIT_US on a revocation. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ingest_t *in = opaque;
    int64_t now = ts_monotonic_us();
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    /* Known once the group is joined: "COOPERATIVE" or "EAGER". */
    in->cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            ledger_part_t *p = ledger_assign(in->ledger, schema_topic_from_name(tp->topic),
                                             tp->partition, now);
            if (p == NULL || part_clock(in, p) == NULL) {
                LOG_ERROR("cannot track partition %s [%d]; its messages are ignored", tp->topic,
                          (int)tp->partition);
                if (p != NULL)
                    ledger_revoke(in->ledger, p->topic, p->partition);
            } else {
                part_metrics(in, p);
                evtime_assign(p->user);
            }
        }
        if (in->cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        in->assigned_once = 1;
        in->partitions_due = 1;
        apply_changes(in); /* paused until their stored offsets are read */
        LOG_INFO("assigned %d partitions; reading their stored offsets", parts->cnt);
    } else {
        int64_t deadline = now + (term_requested() ? EXIT_WAIT_US : REVOKE_WAIT_US);
        if (flush_all(in, deadline) != 0)
            drop_batches(in, "partitions revoked while PostgreSQL is unavailable");
        for (int i = 0; i < parts->cnt; i++) {
            int t = schema_topic_from_name(parts->elems[i].topic);
            ledger_part_t *p = ledger_find(in->ledger, t, parts->elems[i].partition);
            if (p != NULL && p->user != NULL)
                evtime_revoke(p->user);
            ledger_revoke(in->ledger, t, parts->elems[i].partition);
        }
        if (in->cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        LOG_INFO("revoked %d partitions", parts->cnt);
    }
    if (error != NULL) {
        LOG_ERROR("incremental rebalance failed: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        LOG_ERROR("rebalance failed: %s", rd_kafka_err2str(aerr));
}

/* Runs inside rd_kafka_consumer_poll(): notes whether a broker is up. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    ingest_t *in = opaque;
    int up = kafka_stats_brokers_up(json, len);

    (void)rk;
    if (up >= 0)
        atomic_store(&in->kafka_up, up > 0);
    return 0; /* librdkafka frees json */
}

/* --- messages ----------------------------------------------------------- */

static void handle_message(ingest_t *in, rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    int t = schema_topic_from_name(topic);
    ledger_part_t *p = ledger_find(in->ledger, t, msg->partition);
    late_arg_t la = {p != NULL ? p->user : NULL, ts_monotonic_us()};
    rows_msg_t rm = {topic, msg->partition, msg->offset, msg->key, msg->key_len,
                     msg->payload, msg->len, la.part != NULL ? is_late : NULL, &la};
    int64_t lo = -1, hi = -1;
    rd_kafka_timestamp_type_t tstype;
    int64_t create_ms = rd_kafka_message_timestamp(msg, &tstype);
    char reason[256];
    ledger_gap_t gap;
    int rc;

    if (p != NULL && msg->offset != p->pos) /* cached from fetches: no round trip */
        rd_kafka_get_watermark_offsets(in->rk, topic, msg->partition, &lo, &hi);
    switch (ledger_message(in->ledger, p, msg->offset, lo, hi, &gap)) {
    case LEDGER_IGNORE:
        LOG_DEBUG("%s [%d] @%lld: partition not consuming yet, ignored", topic,
                  (int)msg->partition, (long long)msg->offset);
        return;
    case LEDGER_SKIP:
        LOG_DEBUG("%s [%d] @%lld: already consumed, skipped", topic, (int)msg->partition,
                  (long long)msg->offset);
        return;
    case LEDGER_TAKE:
        break;
    }
    if (gap.kind != NULL) {
        int retention = strcmp(gap.kind, "retention") == 0;
        LOG_ERROR("%s [%d]: offsets %lld..%lld %s; recorded in stream_gaps", topic, (int)msg->partition,
                  (long long)gap.first, (long long)gap.last,
                  retention ? "are no longer held by the broker and were never stored"
                            : "were reused: the topic was recreated (broker restarted?)");
        rows_add_gap(&in->batch, in->conf.group, topic, msg->partition, gap.first, gap.last, gap.kind);
        in->batch.gaps[t]++;
    }
    if (gap.holes > 0) {
        metrics_counter_add(in->tm[t].holes, (uint64_t)gap.holes);
        LOG_DEBUG("%s [%d]: %lld offsets before %lld hold no message (transaction markers or aborted records)",
                  topic, (int)msg->partition, (long long)gap.holes, (long long)msg->offset);
    }
    rc = rows_add_message(&in->batch, &in->rows, &rm, ts_now_ms(), reason, sizeof(reason));
    if (rc < 0 || (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE &&
                   batch_note_create_time(&in->batch, create_ms) != 0)) {
        fail_oom(in, "batching");
        return;
    }
    if (rc == 0) {
        in->batch.dead[t]++;
        LOG_DEBUG("dead letter %s [%d] @%lld: %s", topic, (int)msg->partition, (long long)msg->offset, reason);
    }
    in->batch.consumed[t]++;
    if (in->batch.messages++ == 0)
        in->batch.first_arrival_us = ts_monotonic_us();
}

static int batch_full(const ingest_t *in)
{
    return in->batch.messages >= in->conf.flush_rows || batch_text_bytes(&in->batch) >= in->conf.flush_bytes;
}

static int flush_due(const ingest_t *in)
{
    const batch_t *b = &in->batch;

    if (!batch_has_rows(b))
        return evtime_seal_due(in->clock, ts_monotonic_us());
    return batch_full(in) || b->messages == 0 ||
           ts_monotonic_us() - b->first_arrival_us >= (int64_t)in->conf.flush_ms * 1000;
}

/* --- observation -------------------------------------------------------- */

static void update_watermarks(ingest_t *in, int64_t now)
{
    size_t i = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(in->ledger, &i)) != NULL) {
        int64_t lo = -1, hi = -1;
        part_metrics_t *pm = part_metrics(in, p);
        ledger_gap_t gap;

        if (rd_kafka_get_watermark_offsets(in->rk, schema_topics[p->topic].name, p->partition, &lo,
                                           &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
            continue;
        ledger_watermarks(p, lo, hi, now, &gap);
        if (p->user != NULL)
            evtime_progress(p->user, p->pos, ledger_backlog_hi(p), now);
        if (pm != NULL && p->user != NULL)
            metrics_gauge_set(pm->watermark, watermark_s(evtime_part_watermark(p->user, now)));
        if (gap.kind != NULL) {
            const char *topic = schema_topics[p->topic].name;
            LOG_ERROR("%s [%d]: offsets %lld..%lld are no longer held by the broker and were never stored (the log is empty up to %lld); recorded in stream_gaps",
                      topic, (int)p->partition, (long long)gap.first, (long long)gap.last, (long long)lo);
            rows_add_gap(&in->batch, in->conf.group, topic, p->partition, gap.first, gap.last, gap.kind);
            in->batch.gaps[p->topic]++;
        }
        if (pm != NULL)
            metrics_gauge_set(pm->lag, (double)(hi - (p->stored < 0 ? 0 : p->stored)));
    }
}

/* Says once per job that PostgreSQL has not answered for a while (a frozen
 * server, a network partition before the TCP deadlines fire). */
static void warn_slow_job(ingest_t *in, int64_t now)
{
    int64_t since = ledger_writer_since(in->ledger);

    if (!ledger_writer_busy(in->ledger) || now - since < SLOW_JOB_US || in->warned_job_us == since)
        return;
    in->warned_job_us = since;
    LOG_WARN("PostgreSQL has not answered for %.0f s (frozen server or network partition?); consumption goes on until the batch is full, then pauses",
             (double)(now - since) / 1e6);
}

static void publish_health(ingest_t *in, int64_t now)
{
    char detail[sizeof(in->health)];
    int ok = ledger_health(in->ledger, atomic_load(&in->kafka_up), now, detail, sizeof(detail));

    pthread_mutex_lock(&in->health_lock);
    in->healthy = ok;
    memcpy(in->health, detail, sizeof(detail));
    pthread_mutex_unlock(&in->health_lock);
}

int ingest_health(void *arg, char *detail, size_t size)
{
    ingest_t *in = arg;
    int ok;

    pthread_mutex_lock(&in->health_lock);
    ok = in->healthy;
    snprintf(detail, size, "%s", in->health);
    pthread_mutex_unlock(&in->health_lock);
    return ok;
}

static uint64_t sum_counters(ingest_t *in, int which)
{
    uint64_t n = 0;
    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        metrics_counter_t *c = which == 0 ? in->tm[t].consumed : which == 1 ? in->tm[t].stored
                             : which == 2 ? in->tm[t].dead : in->tm[t].duplicates;
        n += metrics_counter_value(c);
    }
    return n;
}

static void progress(ingest_t *in, double elapsed_s, double interval_s, uint64_t *prev_consumed)
{
    uint64_t consumed = sum_counters(in, 0);
    size_t i = 0, paused = 0, loading = 0;
    ledger_part_t *p;

    while ((p = ledger_next_part(in->ledger, &i)) != NULL) {
        paused += p->paused;
        loading += p->state != LEDGER_ACTIVE;
    }
    LOG_INFO("progress: %.1f s, %.1f msg/s, stored %llu, dead-lettered %llu, duplicates %llu, lag %lld, "
             "flushes %llu, latency p50 %.0f ms p99 %.0f ms, postgres %s%s%s",
             elapsed_s, interval_s > 0 ? (double)(consumed - *prev_consumed) / interval_s : 0,
             (unsigned long long)sum_counters(in, 1), (unsigned long long)sum_counters(in, 2),
             (unsigned long long)sum_counters(in, 3), (long long)ledger_lag(in->ledger),
             (unsigned long long)metrics_counter_value(in->flushes),
             metrics_histogram_quantile(in->latency, 0.5) * 1000,
             metrics_histogram_quantile(in->latency, 0.99) * 1000,
             !ledger_pg_up(in->ledger) ? "DOWN"
             : ledger_writer_busy(in->ledger) &&
                     ts_monotonic_us() - ledger_writer_since(in->ledger) >= SLOW_JOB_US
                 ? "NOT ANSWERING" : "up",
             paused ? ", paused" : "",
             loading ? ", reading stored offsets" : "");
    *prev_consumed = consumed;
}

/* --- life cycle --------------------------------------------------------- */

ingest_t *ingest_new(const ingest_conf_t *conf, metrics_t *m, char *errbuf, size_t errsize)
{
    static const char *const defaults[] = {
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest",
        "session.timeout.ms", "10000",
        "heartbeat.interval.ms", "1000",
        "fetch.wait.max.ms", "50",
        "queued.max.messages.kbytes", "16384", /* prefetch: a quarter of the default, bounds RSS */
        "enable.partition.eof", "false",
        "statistics.interval.ms", "1000",     /* broker states, for /health */
        NULL,
    };
    ledger_conf_t lconf = {RETRY_MIN_MS, RETRY_MAX_MS, (int64_t)(conf->stall_timeout_s * 1e6)};
    ingest_t *in = calloc(1, sizeof(*in));
    rd_kafka_conf_t *kconf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t err;

    if (in == NULL) {
        snprintf(errbuf, errsize, "out of memory");
        return NULL;
    }
    in->conf = *conf;
    in->metrics = m;
    in->rows = (rows_conf_t){conf->group, conf->max_message_bytes};
    pthread_mutex_init(&in->health_lock, NULL);
    snprintf(in->health, sizeof(in->health), "starting");
    batch_init(&in->batch);
    batch_init(&in->inflight);
    init_metrics(in);
    in->ledger = ledger_new(&lconf);
    in->clock = evtime_new(&conf->analytics.evtime);
    if (in->clock == NULL)
        snprintf(errbuf, errsize, "invalid event-time settings (window, lateness, idle timeout)");
    in->sink = sink_new(conf->conninfo, conf->group, "ecom-stream");
    in->flusher = in->sink ? flusher_new(in->sink) : NULL;
    if (in->sink != NULL) {
        sink_set_synchronous_commit(in->sink, conf->synchronous_commit);
        sink_set_analytics(in->sink, &conf->analytics);
    }
    kconf = kafka_conf_build(conf->brokers, "ecom-stream", defaults, conf->xopts, errbuf, errsize);
    if (in->ledger == NULL || in->clock == NULL || in->sink == NULL || in->flusher == NULL || kconf == NULL)
        goto fail;
    if (rd_kafka_conf_set(kconf, "group.id", conf->group, errbuf, errsize) != RD_KAFKA_CONF_OK)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
    rd_kafka_conf_set_stats_cb(kconf, stats_cb);
    rd_kafka_conf_set_opaque(kconf, in);
    in->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errbuf, errsize);
    if (in->rk == NULL)
        goto fail;
    kconf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(in->rk);
    subs = rd_kafka_topic_partition_list_new(conf->topic_count);
    for (int i = 0; i < conf->topic_count; i++)
        rd_kafka_topic_partition_list_add(subs, conf->topics[i], RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(in->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsize, "could not subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    return in;
fail:
    if (kconf != NULL)
        rd_kafka_conf_destroy(kconf);
    ingest_destroy(in);
    return NULL;
}

/* An ingest whose worker is stuck in libpq at exit: kept reachable (the
 * worker still reads its sink and batch) until the process ends. */
static ingest_t *left_behind;

void ingest_destroy(ingest_t *in)
{
    size_t i = 0;
    ledger_part_t *p;

    if (in == NULL)
        return;
    if (in->rk != NULL)
        rd_kafka_destroy(in->rk);
    in->rk = NULL;
    if (flusher_destroy(in->flusher, ts_monotonic_us() + EXIT_WAIT_US) != 0) {
        left_behind = in; /* a frozen server: the process is exiting */
        return;
    }
    sink_destroy(in->sink);
    batch_free(&in->inflight);
    batch_free(&in->batch);
    while (in->ledger != NULL && (p = ledger_next_record(in->ledger, &i)) != NULL)
        free(p->io); /* every record, assigned or not */
    ledger_destroy(in->ledger);
    evtime_destroy(in->clock);
    pthread_mutex_destroy(&in->health_lock);
    free(in);
}

/* Learns the Kafka cluster id (a metadata request; not from inside a
 * rebalance callback, where it cannot complete) so that stored offsets can
 * be told apart from another cluster's. Gives up after about 10 s. */
static void learn_cluster_id(ingest_t *in)
{
    char *id = NULL;

    for (int i = 0; i < 20 && !term_requested() && id == NULL; i++)
        id = rd_kafka_clusterid(in->rk, 500);
    if (id == NULL) {
        LOG_WARN("could not learn the Kafka cluster id; offsets are stored without it");
        return;
    }
    atomic_store(&in->kafka_up, 1);
    snprintf(in->cluster_id, sizeof(in->cluster_id), "%s", id);
    rd_kafka_mem_free(in->rk, id);
    sink_set_cluster_id(in->sink, in->cluster_id);
    LOG_INFO("Kafka cluster id \"%s\"", in->cluster_id);
}

/* Learns how many partitions the subscribed topics have, one metadata
 * request per topic of at most META_WAIT_MS (not from inside a rebalance
 * callback). Windows become final only once that many of the group's
 * partitions have a watermark in PostgreSQL; until the count is known, none
 * does. Keeps the count learned before when a topic does not answer. */
static void learn_partitions(ingest_t *in, int64_t now)
{
    int total = 0;

    in->next_meta_us = now + META_EVERY_US;
    in->partitions_due = 0;
    for (int i = 0; i < in->conf.topic_count; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(in->rk, in->conf.topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        int n = 0;

        if (rkt != NULL &&
            rd_kafka_metadata(in->rk, 0, rkt, &md, META_WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        if (rkt != NULL)
            rd_kafka_topic_destroy(rkt);
        if (n <= 0)
            return;
        total += n;
    }
    if (total != in->group_partitions)
        LOG_INFO("the subscribed topics have %d partitions; windows become final once each has a watermark stored",
                 total);
    in->group_partitions = total;
}

/* Waits until PostgreSQL answers (or a stop is requested): a clear first
 * error, before joining the consumer group. Runs before any worker job. */
static int connect_first(ingest_t *in)
{
    while (!sink_connected(in->sink)) {
        if (term_requested())
            return -1;
        if (sink_connect(in->sink, -1) != 0)
            metrics_counter_add(in->pg_errors, 1);
    }
    ledger_load_done(in->ledger, 1, ts_monotonic_us()); /* PostgreSQL answered */
    set_pg_up(in, 1, "");
    return 0;
}

static void shutdown_flush(ingest_t *in)
{
    if (flush_all(in, ts_monotonic_us() + SHUTDOWN_WAIT_US) != 0 ||
        batch_has_rows(&in->batch))
        drop_batches(in, "exiting before PostgreSQL committed");
}

/* One pass of the loop's own work between polls. */
static void poll_once(ingest_t *in)
{
    int64_t now = ts_monotonic_us();
    int full = batch_full(in);
    rd_kafka_message_t *msg;

    if (full && !ledger_can_seal(in->ledger) && flusher_running(in->flusher)) {
        /* The writer is behind: wait for it rather than read more, for a
         * while; then pause the partitions and go on polling. */
        if (in->full_since_us == 0)
            in->full_since_us = now;
        if (now - in->full_since_us < FULL_WAIT_US) {
            collect_job(in, now + 50000);
            return;
        }
        ledger_backpressure(in->ledger, 1);
    }
    msg = rd_kafka_consumer_poll(in->rk, 50);
    if (msg == NULL)
        return;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        handle_message(in, msg);
        in->last_message_us = ts_monotonic_us();
    } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        metrics_counter_add(in->kafka_errors, 1);
        LOG_WARN("consumer error: %s", rd_kafka_message_errstr(msg));
    }
    rd_kafka_message_destroy(msg);
}

int ingest_run(ingest_t *in)
{
    int64_t start_us = ts_monotonic_us();
    int64_t next_progress_us = start_us + (int64_t)(in->conf.progress_s * 1e6);
    int64_t last_progress_us = start_us, next_lag_us = start_us, next_health_us = start_us;
    uint64_t prev_consumed = 0;
    rd_kafka_resp_err_t err;

    if (connect_first(in) != 0)
        return term_requested() ? 0 : 1;
    learn_cluster_id(in);
    learn_partitions(in, ts_monotonic_us());
    in->last_message_us = in->idle_since_us = start_us;
    while (!term_requested()) {
        int64_t now;

        poll_once(in);
        pump(in, flush_due(in));
        now = ts_monotonic_us();
        metrics_gauge_set(in->batch_messages, (double)in->batch.messages);
        if (now >= next_lag_us) {
            update_watermarks(in, now);
            update_clock_metrics(in, now);
            next_lag_us = now + 1000000;
        }
        if (in->partitions_due || now >= in->next_meta_us)
            learn_partitions(in, now);
        if (now >= next_health_us) {
            warn_slow_job(in, now);
            publish_health(in, now);
            next_health_us = now + 200000;
        }
        if (in->conf.progress_s > 0 && now >= next_progress_us) {
            progress(in, (double)(now - start_us) / 1e6, (double)(now - last_progress_us) / 1e6,
                     &prev_consumed);
            last_progress_us = now;
            while (next_progress_us <= now)
                next_progress_us += (int64_t)(in->conf.progress_s * 1e6);
        }
        /* Idle: nothing pending anywhere, and no message for a while. */
        if (!ledger_settled(in->ledger) || batch_has_rows(&in->batch) ||
            in->inflight.messages > 0 || !in->assigned_once)
            in->idle_since_us = now;
        if (in->conf.exit_when_idle_s > 0 &&
            now - (in->idle_since_us > in->last_message_us ? in->idle_since_us : in->last_message_us) >=
                (int64_t)(in->conf.exit_when_idle_s * 1e6)) {
            LOG_INFO("no message for %.1f s and nothing pending: exiting", in->conf.exit_when_idle_s);
            break;
        }
    }
    if (!in->failed)
        shutdown_flush(in);
    update_watermarks(in, ts_monotonic_us());
    progress(in, (double)(ts_monotonic_us() - start_us) / 1e6,
             (double)(ts_monotonic_us() - last_progress_us) / 1e6, &prev_consumed);
    err = rd_kafka_consumer_close(in->rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        LOG_WARN("consumer close: %s", rd_kafka_err2str(err));
    return in->failed || kafka_fatal_seen() ? 1 : 0;
}
