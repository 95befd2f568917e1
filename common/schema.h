/*
 * schema.h - validation of the three topics' messages against their
 * documented schemas (shared/original-design.md). Used by the stream
 * processor to route messages to raw tables or the dead-letter table, and by
 * tests to check what the simulator generates.
 *
 * Rules: valid UTF-8 JSON object without NUL bytes, within a size limit;
 * required fields present with the right JSON types; uuids in canonical
 * form; RFC 3339 timestamps between 2000-01-01 and one day ahead of now;
 * known event types; prices, quantities and amounts non-negative and below
 * absurd bounds; item_total = price x quantity to the cent. A transaction
 * whose total_amount differs from sum(item_total) + tax_amount +
 * shipping_cost is valid but flagged (totals_match = 0).
 * Pure functions; the caller owns the parsed JSON (json_decref).
 */
#ifndef ECOM_SCHEMA_H
#define ECOM_SCHEMA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SCHEMA_MAX_MESSAGE_BYTES (64 * 1024)
#define SCHEMA_MAX_PRICE_CENTS (1000000LL * 100)   /* 1,000,000.00 */
#define SCHEMA_MAX_AMOUNT_CENTS (100000000LL * 100) /* 100,000,000.00 */
#define SCHEMA_MAX_QUANTITY 100000
#define SCHEMA_MAX_ITEMS 1000

typedef enum {
    SCHEMA_USER_EVENTS = 0,
    SCHEMA_TRANSACTIONS,
    SCHEMA_INVENTORY,
    SCHEMA_TOPICS,
} schema_topic_t;

typedef struct {
    char reason[256]; /* why it is invalid, for the dead-letter table */
    int totals_match; /* transactions: total_amount adds up */
    int64_t event_ms; /* the parsed timestamp */
} schema_result_t;

/* The topic table: for each topic, indexed by schema_topic_t, its Kafka
 * name and the raw PostgreSQL tables its valid messages go to (the names
 * of stream/batch.h's batch_table_names; batch_topic_table() gives the
 * index). */
typedef struct {
    const char *name;        /* Kafka topic, e.g. "user-events" */
    const char *table;       /* raw table with one row per valid message */
    const char *items_table; /* raw table of their line items, or NULL */
} schema_topic_info_t;

extern const schema_topic_info_t schema_topics[SCHEMA_TOPICS];

/* The topic for a name, or -1. */
int schema_topic_from_name(const char *name);

/* Checks raw bytes (size, NUL bytes, UTF-8 and JSON syntax via jansson) and
 * then the schema. On success returns 0 and, if root is not NULL, the parsed
 * object (caller owns it). On failure returns -1 with res->reason set.
 * now_ms bounds future timestamps (pass ts_now_ms()). */
int schema_check(schema_topic_t topic, const void *payload, size_t len,
                 size_t max_bytes, int64_t now_ms, json_t **root,
                 schema_result_t *res);

/* Checks an already parsed message. Returns 0 or -1 with res->reason. */
int schema_validate(schema_topic_t topic, const json_t *root, int64_t now_ms,
                    schema_result_t *res);

/* Canonical 8-4-4-4-12 hex uuid. */
int schema_is_uuid(const char *s);

#endif
