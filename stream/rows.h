/*
 * rows.h - turns one Kafka message into rows of the batch: validates it
 * against its topic's schema (common/schema.c) and appends raw-table rows,
 * or a dead-letter row with the reason; also gap rows.
 * Stateless; the batch owns everything appended.
 */
#ifndef ECOM_ROWS_H
#define ECOM_ROWS_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *group;   /* consumer group, recorded with dead letters */
    size_t max_bytes;    /* message size limit */
} rows_conf_t;

typedef struct {
    const char *topic;  /* topic name as consumed */
    int32_t partition;
    int64_t offset;
    const void *key;    /* may be NULL */
    size_t key_len;
    const void *payload; /* NULL for a null message value */
    size_t len;
} rows_msg_t;

/* Appends the message's rows. Returns 1 when stored as valid, 0 when
 * dead-lettered (reason filled), -1 when out of memory. */
int rows_add_message(batch_t *b, const rows_conf_t *conf, const rows_msg_t *m,
                     int64_t now_ms, char *reason, size_t reason_size);

/* Appends a stream_gaps row: kind "retention" (offsets skipped) or "reset"
 * (offsets went backwards: the topic was recreated). */
void rows_add_gap(batch_t *b, const char *group, const char *topic,
                  int32_t partition, int64_t first, int64_t last,
                  const char *kind);

#endif
