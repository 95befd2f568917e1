/*
 * batch.h - what ecom-stream has consumed since its last flush: rows for
 * each target table in PostgreSQL COPY text format, and for every Kafka
 * partition touched, the offset PostgreSQL holds now and the one it will
 * hold after the flush. rows.c fills a batch, sink.c writes it in one
 * transaction, then the batch is reset.
 *
 * Every valid message also gets a record (batch_msg_t): where its raw rows
 * start in each raw table's buffer, and a copy of its key and payload. So
 * when PostgreSQL rejects a row, sink.c can write the batch message by
 * message (a message's rows, such as a transaction and its items, always
 * together) and dead-letter the rejected message whole. The copies cost
 * about as much memory again as the COPY text.
 *
 * Ownership: the batch owns its buffers (batch_free). Topic names in
 * batch_offset_t point at static strings (schema_topics[t].name).
 */
#ifndef ECOM_BATCH_H
#define ECOM_BATCH_H

#include "buf.h"
#include "schema.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    BATCH_USER_EVENTS = 0,
    BATCH_TRANSACTIONS,
    BATCH_TRANSACTION_ITEMS,
    BATCH_INVENTORY_UPDATES,
    BATCH_DEAD_LETTERS,
    BATCH_GAPS,
    BATCH_TABLES,
} batch_table_t;

/* The raw tables are the first BATCH_RAW_TABLES of batch_table_t. */
#define BATCH_RAW_TABLES 4

/* Column order of each table's COPY rows (staging tables have exactly these
 * columns; the raw tables have them plus defaults such as ingested_at). */
#define BATCH_COLS_USER_EVENTS                                                 \
    "event_id, user_id, event_type, event_time, product_id, product_name, "    \
    "category, price, search_query, session_id, ip_address, user_agent, "      \
    "kafka_partition, kafka_offset, late"
#define BATCH_COLS_TRANSACTIONS                                                \
    "transaction_id, user_id, event_time, payment_method, total_amount, "      \
    "tax_amount, shipping_cost, shipping_address, item_count, totals_match, "  \
    "kafka_partition, kafka_offset, late"
#define BATCH_COLS_TRANSACTION_ITEMS                                           \
    "transaction_id, line_no, event_time, product_id, product_name, price, "   \
    "quantity, item_total"
#define BATCH_COLS_INVENTORY_UPDATES                                           \
    "event_id, product_id, product_name, stock_change, current_stock, "        \
    "warehouse_location, event_time, kafka_partition, kafka_offset, late"
#define BATCH_COLS_DEAD_LETTERS                                                \
    "consumer_group, topic, kafka_partition, kafka_offset, kafka_key, "        \
    "kafka_key_encoding, payload, payload_encoding, payload_bytes, "           \
    "payload_truncated, reason"
#define BATCH_COLS_GAPS                                                        \
    "consumer_group, topic, kafka_partition, first_missing_offset, "           \
    "last_missing_offset, kind"

/* COPY text rows of one table: buf.data[0..buf.len), buf.oom when an
 * append ran out of memory; rows counts them. */
typedef struct {
    buf_t buf;
    size_t rows;
} batch_buf_t;

typedef struct {
    const char *topic;
    int32_t partition;
    int64_t committed_next; /* next_offset in stream_offsets now; -1: no row */
    int64_t next;           /* next_offset after this batch */
    /* Stored with the offset (stream_offsets.max_event_time, watermark):
     * the partition's largest event time and effective watermark as of
     * next, epoch ms; BATCH_NO_TIME: unknown (NULL). */
    int64_t max_ts, watermark;
} batch_offset_t;

#define BATCH_NO_TIME INT64_MIN

/* One valid message: its rows of raw table t are
 * tables[t].buf.data[start[t] .. the next message's start[t], or buf.len),
 * its key (has_key 0: none) and payload are kept[key_at .. + key_len) and
 * kept[payload_at .. + payload_len). */
typedef struct {
    int topic;          /* schema_topic_t */
    int32_t partition;
    int64_t offset;
    size_t start[BATCH_RAW_TABLES];
    size_t key_at, key_len;
    size_t payload_at, payload_len;
    int has_key;
} batch_msg_t;

/* Per-topic counts are indexed by schema_topic_t. */
typedef struct {
    batch_buf_t tables[BATCH_TABLES];
    long long consumed[SCHEMA_TOPICS]; /* Kafka messages */
    long long dead[SCHEMA_TOPICS];     /* of which dead-lettered */
    long long gaps[SCHEMA_TOPICS];     /* stream_gaps rows */
    batch_offset_t *offsets;
    size_t offset_count;
    size_t offset_cap;
    size_t messages;          /* Kafka messages in the batch */
    int64_t first_arrival_us; /* monotonic time the first message arrived */
    int64_t *create_ms;       /* per message: Kafka timestamp, for latency */
    size_t create_count;
    size_t create_cap;
    batch_msg_t *msgs;        /* valid messages, in batch order */
    size_t msg_count;
    size_t msg_cap;
    buf_t kept;               /* their keys and payloads */
    int group_partitions;     /* partitions of the subscribed topics, from
                               * Kafka's metadata at the seal; 0 unknown
                               * (windows_apply() finalises nothing) */
} batch_t;

extern const char *const batch_table_names[BATCH_TABLES];
extern const char *const batch_table_columns[BATCH_TABLES];

/* The table of a name in batch_table_names, or -1. */
int batch_table_from_name(const char *name);
/* The raw table a topic's valid messages go to (schema_topics[t].table),
 * or -1 for a topic out of range (never for a schema_topic_t: tested). */
int batch_topic_table(schema_topic_t topic);

void batch_init(batch_t *b);
void batch_reset(batch_t *b); /* empties, keeps capacity */
void batch_free(batch_t *b);
int batch_oom(const batch_t *b);
/* COPY text bytes held by all tables (for the flush size limit). */
size_t batch_text_bytes(const batch_t *b);

/* COPY text helpers: append one field, with a leading tab unless first.
 * NULL text writes \N. Backslash, tab, newline and CR are escaped. */
void batch_field(batch_buf_t *buf, int first, const char *text);
void batch_field_len(batch_buf_t *buf, int first, const char *text, size_t len);
void batch_field_int(batch_buf_t *buf, int first, int64_t v);
void batch_field_cents(batch_buf_t *buf, int first, int64_t cents);
void batch_end_row(batch_buf_t *buf);

/* Sets the max_ts and watermark stored with (topic, partition)'s offset.
 * Returns 0, or -1 when the batch does not hold the partition. */
int batch_note_mark(batch_t *b, const char *topic, int32_t partition,
                    int64_t max_ts, int64_t watermark);
/* Records that partition (topic, partition) now continues at next; the
 * first call for a partition in this batch also records committed_next.
 * Returns 0, or -1 when out of memory (nothing recorded). */
int batch_note_offset(batch_t *b, const char *topic, int32_t partition,
                      int64_t committed_next, int64_t next);
/* Records one message's Kafka timestamp. Returns 0, or -1 when out of
 * memory (nothing recorded). */
int batch_note_create_time(batch_t *b, int64_t create_ms);

/* Records a valid message before its rows are appended (see batch_msg_t):
 * the raw tables' current lengths and a copy of key (NULL: none) and
 * payload. Returns 0, or -1 when out of memory (kept.oom may be set). */
int batch_note_message(batch_t *b, int topic, int32_t partition, int64_t offset,
                       const void *key, size_t key_len, const void *payload,
                       size_t payload_len);
/* Where message i's rows of raw table t start and end in tables[t].buf. */
size_t batch_msg_rows_start(const batch_t *b, size_t i, int t);
size_t batch_msg_rows_end(const batch_t *b, size_t i, int t);

#endif
