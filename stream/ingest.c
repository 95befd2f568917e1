/*
 * ingest.c - the consume -> validate -> batch -> flush cycle (see ingest.h).
 *
 * Owns: the librdkafka consumer, the per-partition positions, the batch,
 * the sink (PostgreSQL connection) and the stream metrics. Partition state:
 * committed_next is what stream_offsets holds (-1: no row yet); pos is the
 * next offset expected from Kafka, i.e. one past the last message batched.
 */
#include "ingest.h"
#include "batch.h"
#include "elog.h"
#include "flusher.h"
#include "rows.h"
#include "schema.h"
#include "sink.h"
#include "term.h"
#include "ts.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTITIONS 4096
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 5000

typedef struct {
    int assigned;
    int64_t committed_next;
    int64_t pos;
    metrics_gauge_t *lag;
    metrics_gauge_t *committed;
} part_t;

typedef struct {
    metrics_counter_t *consumed, *stored, *duplicates, *dead, *gaps;
} topic_metrics_t;

struct ingest {
    ingest_conf_t conf;
    rd_kafka_t *rk;
    sink_t *sink;
    batch_t batch;      /* being filled from Kafka */
    batch_t inflight;   /* handed to the flusher, or kept for a retry */
    int inflight_held;  /* inflight holds a batch not yet committed */
    flusher_t *flusher;
    rows_conf_t rows;
    part_t *parts[SCHEMA_TOPICS]; /* indexed by partition number */
    int paused;
    int assigned_once; /* --exit-when-idle counts only after an assignment */
    char cluster_id[128]; /* the Kafka cluster's id, "" until known */
    int retry_ms;
    int64_t next_retry_us;
    int64_t last_message_us;
    atomic_int pg_up;
    metrics_t *metrics;
    topic_metrics_t tm[SCHEMA_TOPICS];
    metrics_counter_t *flushes, *pg_errors, *fenced, *kafka_errors;
    metrics_histogram_t *flush_seconds, *latency;
    metrics_gauge_t *pg_up_gauge, *batch_messages;
};

static const double flush_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,   0.25,   0.5,   1,    2.5,   5};
static const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3,
                                        0.5,   0.75, 1,     2,    5,   10,  30,  60};

static void init_metrics(ingest_t *in)
{
    metrics_t *m = in->metrics;

    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        const char *topic = schema_topic_names[t];
        in->tm[t].consumed = metrics_counter(m, "messages_consumed_total",
            "Kafka messages consumed and committed to PostgreSQL", "topic=\"%s\"", topic);
        in->tm[t].stored = metrics_counter(m, "messages_stored_total",
            "Valid messages stored in raw tables (duplicates excluded)", "topic=\"%s\"", topic);
        in->tm[t].duplicates = metrics_counter(m, "messages_duplicate_total",
            "Valid messages whose id was already stored", "topic=\"%s\"", topic);
        in->tm[t].dead = metrics_counter(m, "messages_dead_lettered_total",
            "Messages written to dead_letter_events", "topic=\"%s\"", topic);
        in->tm[t].gaps = metrics_counter(m, "offset_gaps_total",
            "Offset ranges lost to retention or topic resets (see stream_gaps)", "topic=\"%s\"", topic);
    }
    in->flushes = metrics_counter(m, "flushes_total", "Batches committed to PostgreSQL", METRICS_NO_LABELS);
    in->pg_errors = metrics_counter(m, "postgres_errors_total", "Failed PostgreSQL flushes or connects", METRICS_NO_LABELS);
    in->fenced = metrics_counter(m, "fenced_batches_total",
        "Batches dropped because another instance had moved an offset", METRICS_NO_LABELS);
    in->kafka_errors = metrics_counter(m, "kafka_errors_total", "Kafka consumer errors", METRICS_NO_LABELS);
    in->flush_seconds = metrics_histogram(m, "flush_duration_seconds", "PostgreSQL flush transaction time",
        flush_bounds, sizeof(flush_bounds) / sizeof(flush_bounds[0]), METRICS_NO_LABELS);
    in->latency = metrics_histogram(m, "commit_latency_seconds",
        "Kafka message timestamp to PostgreSQL commit", latency_bounds,
        sizeof(latency_bounds) / sizeof(latency_bounds[0]), METRICS_NO_LABELS);
    in->pg_up_gauge = metrics_gauge(m, "postgres_up", "1 when PostgreSQL is reachable", METRICS_NO_LABELS);
    in->batch_messages = metrics_gauge(m, "batch_messages", "Messages waiting in the current batch", METRICS_NO_LABELS);
}

static part_t *part_get(ingest_t *in, int topic, int32_t partition)
{
    part_t *p;

    if (topic < 0 || partition < 0 || partition >= MAX_PARTITIONS)
        return NULL;
    if (in->parts[topic] == NULL) {
        in->parts[topic] = calloc(MAX_PARTITIONS, sizeof(part_t));
        if (in->parts[topic] == NULL)
            return NULL;
    }
    p = &in->parts[topic][partition];
    if (p->lag == NULL) {
        p->lag = metrics_gauge(in->metrics, "consumer_lag_messages",
            "High watermark minus the next offset to store", "topic=\"%s\",partition=\"%d\"",
            schema_topic_names[topic], (int)partition);
        p->committed = metrics_gauge(in->metrics, "committed_offset",
            "Next offset stored in stream_offsets", "topic=\"%s\",partition=\"%d\"",
            schema_topic_names[topic], (int)partition);
    }
    return p;
}

static void set_pg_up(ingest_t *in, int up)
{
    atomic_store(&in->pg_up, up);
    metrics_gauge_set(in->pg_up_gauge, up);
}

/* Connects to PostgreSQL, retrying until it works or a stop is requested. */
static int connect_blocking(ingest_t *in)
{
    while (!sink_connected(in->sink)) {
        if (term_requested())
            return -1;
        if (sink_connect(in->sink, -1) != 0)
            metrics_counter_add(in->pg_errors, 1);
    }
    set_pg_up(in, 1);
    return 0;
}

/* Records that a partition's stored offset belongs to another Kafka cluster
 * (the dev broker was restarted, or the group moved clusters): the stored
 * offsets mean nothing here, so the partition starts from the beginning and
 * the batch records the reset and moves the stored offset back. */
static void restart_partition(ingest_t *in, int t, int32_t partition, part_t *p,
                              const char *stored_cluster, const char *cluster)
{
    LOG_ERROR("%s [%d]: offsets 0..%lld were stored for Kafka cluster \"%s\", this is \"%s\": "
              "reading from the beginning; recorded in stream_gaps",
              schema_topic_names[t], (int)partition, (long long)p->committed_next - 1,
              stored_cluster, cluster);
    if (p->committed_next > 0) {
        rows_add_gap(&in->batch, in->conf.group, schema_topic_names[t], partition, 0,
                     p->committed_next - 1, "reset");
        in->batch.gaps[t]++;
    }
    batch_note_offset(&in->batch, schema_topic_names[t], partition, p->committed_next, 0);
    p->pos = 0;
}

/* Sets each partition's start offset from stream_offsets. */
static int load_positions(ingest_t *in, rd_kafka_topic_partition_list_t *parts)
{
    const char *cluster = in->cluster_id[0] != '\0' ? in->cluster_id : NULL;
    int rc = 0;

    for (int i = 0; i < parts->cnt && rc == 0; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int t = schema_topic_from_name(tp->topic);
        part_t *p = part_get(in, t, tp->partition);
        char stored_cluster[128] = "";
        int64_t next = 0;
        int found;

        if (p == NULL) {
            LOG_ERROR("cannot track partition %s [%d]", tp->topic, (int)tp->partition);
            rc = -1;
            break;
        }
        found = sink_load_offset(in->sink, tp->topic, tp->partition, &next, stored_cluster,
                                 sizeof(stored_cluster));
        if (found < 0) {
            rc = -1;
            break;
        }
        p->assigned = 1;
        p->committed_next = found ? next : -1;
        p->pos = found ? next : 0;
        if (found && cluster != NULL && stored_cluster[0] != '\0' &&
            strcmp(stored_cluster, cluster) != 0)
            restart_partition(in, t, tp->partition, p, stored_cluster, cluster);
        tp->offset = p->pos > 0 ? p->pos : RD_KAFKA_OFFSET_BEGINNING;
        metrics_gauge_set(p->committed, (double)(found ? next : 0));
        LOG_INFO("assigned %s [%d], resuming at offset %lld%s", tp->topic, (int)tp->partition,
                 (long long)p->pos, found ? "" : " (no stored offset: from the beginning)");
    }
    return rc;
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
    snprintf(in->cluster_id, sizeof(in->cluster_id), "%s", id);
    rd_kafka_mem_free(in->rk, id);
    sink_set_cluster_id(in->sink, in->cluster_id);
    LOG_INFO("Kafka cluster id \"%s\"", in->cluster_id);
}

/* Forgets both batches: the partitions will be read again from their
 * stored offsets. */
static void discard_batches(ingest_t *in)
{
    batch_reset(&in->batch);
    batch_reset(&in->inflight);
    in->inflight_held = 0;
}

static int batch_empty(const batch_t *b)
{
    return b->messages == 0 && b->tables[BATCH_GAPS].rows == 0 && b->offset_count == 0;
}

/* Moves every assigned partition back to its stored offset (after a fenced
 * flush or a dropped batch). */
static void rewind_to_stored(ingest_t *in)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_error_t *error;

    if (rd_kafka_assignment(in->rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (connect_blocking(in) == 0 && load_positions(in, list) == 0) {
        error = rd_kafka_seek_partitions(in->rk, list, 5000);
        if (error != NULL) {
            LOG_ERROR("could not seek back to the stored offsets: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Pauses or resumes every assigned partition. Resuming restarts the
 * --exit-when-idle clock: time spent paused is not idleness. */
static void set_paused(ingest_t *in, int pause)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    int count;

    if (in->paused == pause || rd_kafka_assignment(in->rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (pause)
        rd_kafka_pause_partitions(in->rk, list);
    else
        rd_kafka_resume_partitions(in->rk, list);
    count = list->cnt;
    rd_kafka_topic_partition_list_destroy(list);
    in->paused = pause;
    if (!pause)
        in->last_message_us = ts_monotonic_us();
    LOG_INFO("%s consumption of %d partitions", pause ? "paused" : "resumed", count);
}

static void commit_to_kafka(ingest_t *in, const batch_t *b, int async)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)b->offset_count);
    rd_kafka_resp_err_t err;

    for (size_t i = 0; i < b->offset_count; i++) {
        const batch_offset_t *o = &b->offsets[i];
        rd_kafka_topic_partition_list_add(list, o->topic, o->partition)->offset = o->next;
    }
    if (list->cnt > 0 && (err = rd_kafka_commit(in->rk, list, async)) != RD_KAFKA_RESP_ERR_NO_ERROR)
        LOG_WARN("could not commit offsets to Kafka (PostgreSQL holds them): %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

static void account_committed(ingest_t *in, const batch_t *b, const sink_result_t *res)
{
    static const int table_topic[] = {SCHEMA_USER_EVENTS, SCHEMA_TRANSACTIONS, -1, SCHEMA_INVENTORY};
    int64_t now_ms = ts_now_ms();

    for (int t = 0; t < 4; t++) {
        if (table_topic[t] < 0)
            continue;
        metrics_counter_add(in->tm[table_topic[t]].stored, (uint64_t)res->inserted[t]);
        metrics_counter_add(in->tm[table_topic[t]].duplicates,
                            (uint64_t)(res->staged[t] - res->inserted[t]));
    }
    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        metrics_counter_add(in->tm[t].consumed, (uint64_t)b->consumed[t]);
        metrics_counter_add(in->tm[t].dead, (uint64_t)b->dead[t]);
        metrics_counter_add(in->tm[t].gaps, (uint64_t)b->gaps[t]);
    }
    for (size_t i = 0; i < b->create_count; i++)
        metrics_histogram_observe(in->latency, (double)(now_ms - b->create_ms[i]) / 1000.0);
    for (size_t i = 0; i < b->offset_count; i++) {
        part_t *p = part_get(in, schema_topic_from_name(b->offsets[i].topic), b->offsets[i].partition);
        if (p != NULL)
            metrics_gauge_set(p->committed, (double)b->offsets[i].next);
    }
    metrics_counter_add(in->flushes, 1);
    metrics_histogram_observe(in->flush_seconds, res->seconds);
}

/* Collects the in-flight write and applies its result. Returns 0 when no
 * batch is held anymore (committed, or dropped after a fence), -1 when the
 * held batch still has to be written (PostgreSQL failed; retried later). */
static int settle(ingest_t *in)
{
    sink_result_t res;
    sink_status_t st;

    if (!in->inflight_held)
        return 0;
    if (!flusher_running(in->flusher))
        return -1; /* waiting for its retry */
    st = flusher_wait(in->flusher, &res);
    if (st == SINK_OK) {
        account_committed(in, &in->inflight, &res);
        commit_to_kafka(in, &in->inflight, 1);
        batch_reset(&in->inflight);
        in->inflight_held = 0;
        in->retry_ms = 0;
        set_pg_up(in, 1);
        set_paused(in, 0);
        return 0;
    }
    if (st == SINK_FENCED) {
        metrics_counter_add(in->fenced, 1);
        LOG_WARN("dropping %zu messages: another instance already stored them; rewinding to the stored offsets",
                 in->inflight.messages + in->batch.messages);
        discard_batches(in);
        rewind_to_stored(in);
        return 0;
    }
    metrics_counter_add(in->pg_errors, 1);
    set_pg_up(in, sink_connected(in->sink));
    set_paused(in, 1);
    in->retry_ms = in->retry_ms ? (in->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : in->retry_ms * 2)
                                : RETRY_MIN_MS;
    in->next_retry_us = ts_monotonic_us() + (int64_t)in->retry_ms * 1000;
    LOG_WARN("PostgreSQL flush failed; keeping %zu messages and retrying in %d ms",
             in->inflight.messages + in->batch.messages, in->retry_ms);
    return -1;
}

/* Hands the current batch to the flusher once the previous one is
 * committed (waiting for it: at most one batch is written while the next
 * fills). The next batch's offset fence starts where this one ends.
 * Returns 0, or -1 when the previous batch is held for a retry. */
static int hand_off(ingest_t *in)
{
    batch_t swap;

    if (settle(in) != 0)
        return -1;
    if (batch_empty(&in->batch))
        return 0;
    for (size_t i = 0; i < in->batch.offset_count; i++) {
        const batch_offset_t *o = &in->batch.offsets[i];
        part_t *p = part_get(in, schema_topic_from_name(o->topic), o->partition);
        if (p != NULL)
            p->committed_next = o->next;
    }
    swap = in->inflight;
    in->inflight = in->batch;
    in->batch = swap;
    in->inflight_held = 1;
    flusher_start(in->flusher, &in->inflight);
    return 0;
}

/* Writes everything consumed so far and waits for it. Returns 0 when all of
 * it is committed, -1 when PostgreSQL failed (the batches are kept). */
static int flush_all(ingest_t *in)
{
    if (hand_off(in) != 0 || settle(in) != 0)
        return -1;
    return 0;
}

/* Runs inside rd_kafka_consumer_poll() on the ingest thread. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ingest_t *in = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (connect_blocking(in) != 0 || load_positions(in, parts) != 0) {
            LOG_ERROR("could not read stored offsets; not consuming the assigned partitions");
            rd_kafka_assign(rk, NULL);
            return;
        }
        rd_kafka_assign(rk, parts);
        in->paused = 0;
        in->assigned_once = 1;
        in->last_message_us = ts_monotonic_us();
        return;
    }
    /* Revocation: commit what was consumed, or drop it for the next owner. */
    if (flush_all(in) != 0) {
        LOG_WARN("partitions revoked while PostgreSQL is unavailable: dropping %zu uncommitted messages for the next owner to re-read",
                 in->inflight.messages + in->batch.messages);
        discard_batches(in);
    }
    for (int i = 0; i < parts->cnt; i++) {
        part_t *p = part_get(in, schema_topic_from_name(parts->elems[i].topic), parts->elems[i].partition);
        if (p != NULL)
            p->assigned = 0;
    }
    rd_kafka_assign(rk, NULL);
    in->paused = 0;
    LOG_INFO("revoked %d partitions", parts->cnt);
}

/* True when the broker's log now ends before pos: the topic was recreated
 * (the dev broker keeps nothing across restarts). */
static int topic_was_reset(ingest_t *in, const char *topic, int32_t partition, int64_t pos)
{
    int64_t lo = -1, hi = -1;

    if (rd_kafka_query_watermark_offsets(in->rk, topic, partition, &lo, &hi, 2000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    return hi < pos;
}

static void handle_message(ingest_t *in, rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    int t = schema_topic_from_name(topic);
    part_t *p = part_get(in, t, msg->partition);
    rows_msg_t rm = {topic, msg->partition, msg->offset, msg->key, msg->key_len,
                     msg->payload, msg->len};
    char reason[256];
    rd_kafka_timestamp_type_t tstype;
    int64_t create_ms = rd_kafka_message_timestamp(msg, &tstype);
    int rc;

    if (p == NULL) {
        LOG_ERROR("message from unexpected topic \"%s\" [%d] ignored", topic, (int)msg->partition);
        return;
    }
    if (msg->offset < p->pos && !topic_was_reset(in, topic, msg->partition, p->pos)) {
        /* Already batched or stored (a re-fetch after pause/seek): skip. */
        LOG_DEBUG("%s [%d] @%lld: already consumed, skipped", topic, (int)msg->partition,
                  (long long)msg->offset);
        return;
    }
    if (msg->offset != p->pos) {
        int forward = msg->offset > p->pos;
        int64_t first = forward ? p->pos : msg->offset;
        int64_t last = forward ? msg->offset - 1 : p->pos - 1;
        LOG_ERROR("%s [%d]: offsets %lld..%lld %s; recorded in stream_gaps", topic, (int)msg->partition,
                  (long long)first, (long long)last,
                  forward ? "are no longer held by the broker and were never stored"
                          : "were reused: the topic was recreated (broker restarted?)");
        rows_add_gap(&in->batch, in->conf.group, schema_topic_names[t], msg->partition, first, last,
                     forward ? "retention" : "reset");
        in->batch.gaps[t]++;
    }
    rc = rows_add_message(&in->batch, &in->rows, &rm, ts_now_ms(), reason, sizeof(reason));
    if (rc < 0) {
        LOG_ERROR("out of memory while batching; stopping");
        term_request();
        return;
    }
    if (rc == 0) {
        in->batch.dead[t]++;
        LOG_DEBUG("dead letter %s [%d] @%lld: %s", topic, (int)msg->partition, (long long)msg->offset, reason);
    }
    in->batch.consumed[t]++;
    if (in->batch.messages++ == 0)
        in->batch.first_arrival_us = ts_monotonic_us();
    if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
        batch_note_create_time(&in->batch, create_ms);
    p->pos = msg->offset + 1;
    batch_note_offset(&in->batch, schema_topic_names[t], msg->partition, p->committed_next, p->pos);
}

static size_t batch_bytes(const batch_t *b)
{
    size_t n = 0;
    for (int t = 0; t < BATCH_TABLES; t++)
        n += b->tables[t].len;
    return n;
}

static int flush_due(const ingest_t *in)
{
    const batch_t *b = &in->batch;
    if (b->messages == 0)
        return 0;
    return b->messages >= in->conf.flush_rows || batch_bytes(b) >= in->conf.flush_bytes ||
           ts_monotonic_us() - b->first_arrival_us >= (int64_t)in->conf.flush_ms * 1000;
}

static void update_lag(ingest_t *in)
{
    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        if (in->parts[t] == NULL)
            continue;
        for (int32_t i = 0; i < MAX_PARTITIONS; i++) {
            part_t *p = &in->parts[t][i];
            int64_t lo, hi;
            if (!p->assigned)
                continue;
            if (rd_kafka_get_watermark_offsets(in->rk, schema_topic_names[t], i, &lo, &hi) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR && hi >= 0)
                metrics_gauge_set(p->lag, (double)(hi - (p->committed_next < 0 ? 0 : p->committed_next)));
        }
    }
}

static double total_lag(ingest_t *in)
{
    double lag = 0;
    for (int t = 0; t < SCHEMA_TOPICS; t++)
        for (int32_t i = 0; in->parts[t] != NULL && i < MAX_PARTITIONS; i++)
            if (in->parts[t][i].assigned)
                lag += metrics_gauge_value(in->parts[t][i].lag);
    return lag;
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

    LOG_INFO("progress: %.1f s, %.1f msg/s, stored %llu, dead-lettered %llu, duplicates %llu, lag %.0f, "
             "flushes %llu, latency p50 %.0f ms p99 %.0f ms, postgres %s%s",
             elapsed_s, interval_s > 0 ? (double)(consumed - *prev_consumed) / interval_s : 0,
             (unsigned long long)sum_counters(in, 1), (unsigned long long)sum_counters(in, 2),
             (unsigned long long)sum_counters(in, 3), total_lag(in),
             (unsigned long long)metrics_counter_value(in->flushes),
             metrics_histogram_quantile(in->latency, 0.5) * 1000,
             metrics_histogram_quantile(in->latency, 0.99) * 1000,
             atomic_load(&in->pg_up) ? "up" : "DOWN", in->paused ? ", paused" : "");
    *prev_consumed = consumed;
}

ingest_t *ingest_new(const ingest_conf_t *conf, metrics_t *m, char *errbuf, size_t errsize)
{
    static const char *const defaults[] = {
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest",
        "session.timeout.ms", "10000",
        "heartbeat.interval.ms", "1000",
        "fetch.wait.max.ms", "50",
        "queued.max.messages.kbytes", "32768", /* prefetch: half the default, bounds RSS */
        "enable.partition.eof", "false",
        NULL,
    };
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
    batch_init(&in->batch);
    batch_init(&in->inflight);
    init_metrics(in);
    in->sink = sink_new(conf->conninfo, conf->group, "ecom-stream");
    in->flusher = in->sink ? flusher_new(in->sink) : NULL;
    if (in->sink != NULL)
        sink_set_synchronous_commit(in->sink, conf->synchronous_commit);
    kconf = kafka_conf_build(conf->brokers, "ecom-stream", defaults, conf->xopts, errbuf, errsize);
    if (in->sink == NULL || in->flusher == NULL || kconf == NULL)
        goto fail;
    if (rd_kafka_conf_set(kconf, "group.id", conf->group, errbuf, errsize) != RD_KAFKA_CONF_OK)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
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

void ingest_destroy(ingest_t *in)
{
    if (in == NULL)
        return;
    if (in->rk != NULL)
        rd_kafka_destroy(in->rk);
    flusher_destroy(in->flusher); /* before the sink it borrows */
    sink_destroy(in->sink);
    batch_free(&in->batch);
    batch_free(&in->inflight);
    for (int t = 0; t < SCHEMA_TOPICS; t++)
        free(in->parts[t]);
    free(in);
}

int ingest_health(void *arg, char *detail, size_t size)
{
    ingest_t *in = arg;
    int pg = atomic_load(&in->pg_up);
    int kafka = kafka_ping(in->rk, 2000) == 0;

    snprintf(detail, size, "postgres %s, kafka %s", pg ? "up" : "down", kafka ? "up" : "down");
    return pg && kafka;
}

/* Retries the held batch once its backoff has passed. */
static void retry_if_due(ingest_t *in)
{
    if (!in->inflight_held || flusher_running(in->flusher) || ts_monotonic_us() < in->next_retry_us)
        return;
    if (!sink_connected(in->sink) && sink_connect(in->sink, 0) != 0) {
        metrics_counter_add(in->pg_errors, 1);
        in->retry_ms = in->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : in->retry_ms * 2;
        in->next_retry_us = ts_monotonic_us() + (int64_t)in->retry_ms * 1000;
        return;
    }
    flusher_start(in->flusher, &in->inflight);
    if (settle(in) == 0)
        LOG_INFO("PostgreSQL is back; the kept batch is committed");
}

static void shutdown_flush(ingest_t *in)
{
    int64_t give_up_us = ts_monotonic_us() + 10 * 1000000LL;

    while (flush_all(in) != 0 && ts_monotonic_us() < give_up_us) {
        ts_sleep_until_us(in->next_retry_us, 1000);
        retry_if_due(in);
    }
    if (in->inflight_held || !batch_empty(&in->batch))
        LOG_WARN("exiting with %zu uncommitted messages; they will be consumed again on restart",
                 in->inflight.messages + in->batch.messages);
    discard_batches(in);
}

int ingest_run(ingest_t *in)
{
    int64_t start_us = ts_monotonic_us();
    int64_t next_progress_us = start_us + (int64_t)(in->conf.progress_s * 1e6);
    int64_t last_progress_us = start_us, next_lag_us = start_us, next_partitions_us;
    uint64_t prev_consumed = 0;
    rd_kafka_resp_err_t err;

    if (connect_blocking(in) != 0)
        return term_requested() ? 0 : 1;
    learn_cluster_id(in);
    next_partitions_us = start_us + 3600 * 1000000LL;
    in->last_message_us = start_us;
    while (!term_requested()) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(in->rk, 50);
        int64_t now;

        if (msg != NULL) {
            if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                handle_message(in, msg);
                in->last_message_us = ts_monotonic_us();
            } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                metrics_counter_add(in->kafka_errors, 1);
                LOG_WARN("consumer error: %s", rd_kafka_message_errstr(msg));
            }
            rd_kafka_message_destroy(msg);
        }
        if (in->inflight_held && !flusher_running(in->flusher))
            retry_if_due(in);
        else if (in->inflight_held && flusher_done(in->flusher))
            settle(in);
        if (flush_due(in) && !in->paused)
            hand_off(in);
        now = ts_monotonic_us();
        metrics_gauge_set(in->batch_messages, (double)in->batch.messages);
        if (now >= next_lag_us) {
            update_lag(in);
            next_lag_us = now + 1000000;
        }
        if (now >= next_partitions_us && !in->inflight_held) {
            sink_ensure_partitions(in->sink, 3);
            next_partitions_us = now + 3600 * 1000000LL;
        }
        if (in->conf.progress_s > 0 && now >= next_progress_us) {
            progress(in, (double)(now - start_us) / 1e6, (double)(now - last_progress_us) / 1e6,
                     &prev_consumed);
            last_progress_us = now;
            while (next_progress_us <= now)
                next_progress_us += (int64_t)(in->conf.progress_s * 1e6);
        }
        if (in->conf.exit_when_idle_s > 0 && in->assigned_once && batch_empty(&in->batch) &&
            !in->inflight_held &&
            now - in->last_message_us >= (int64_t)(in->conf.exit_when_idle_s * 1e6)) {
            LOG_INFO("no message for %.1f s: exiting", in->conf.exit_when_idle_s);
            break;
        }
    }
    shutdown_flush(in);
    update_lag(in);
    progress(in, (double)(ts_monotonic_us() - start_us) / 1e6,
             (double)(ts_monotonic_us() - last_progress_us) / 1e6, &prev_consumed);
    err = rd_kafka_consumer_close(in->rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        LOG_WARN("consumer close: %s", rd_kafka_err2str(err));
    return kafka_fatal_seen() ? 1 : 0;
}
