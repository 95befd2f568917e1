/*
 * rows.h - turns one Kafka message into rows of the batch: validates it
 * against its topic's schema (common/schema.c) and appends raw-table rows,
 * or a dead-letter row with the reason; also gap rows.
 * Stateless; the batch owns everything appended.
 *
 * A dead letter holds the key and payload bytes (as text when they are
 * UTF-8 without NUL, else escaped: see sql/init.sql), the payload's size,
 * and whether the payload was cut: a message rejected for its size keeps
 * only its first ROWS_DEAD_LETTER_PREFIX bytes (cut back to a character
 * boundary when it is text); every other dead letter keeps it whole.
 * A valid message is also recorded in the batch (batch_note_message), for
 * the dead letter sink.c writes when PostgreSQL rejects its rows.
 */
#ifndef ECOM_ROWS_H
#define ECOM_ROWS_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

#define ROWS_DEAD_LETTER_PREFIX 4096

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
    /* Whether a valid message is late for its event-time window, asked
     * once its timestamp is parsed (NULL: never late); the answer goes in
     * the raw row's late column. */
    int (*late)(void *arg, int64_t event_ms);
    void *late_arg;
} rows_msg_t;

/* Appends the message's rows. Returns 1 when stored as valid, 0 when
 * dead-lettered (reason filled), -1 when out of memory. */
int rows_add_message(batch_t *b, const rows_conf_t *conf, const rows_msg_t *m,
                     int64_t now_ms, char *reason, size_t reason_size);

/* Appends a dead_letter_events row for m with reason to buf (the batch's
 * BATCH_DEAD_LETTERS table, or a buffer of the same columns), its key and
 * payload kept as above. Returns 0, or -1 when out of memory. */
int rows_add_dead_letter(batch_buf_t *buf, const rows_conf_t *conf, const rows_msg_t *m,
                         const char *reason);

/* Appends a stream_gaps row: kind "retention" (offsets skipped) or "reset"
 * (offsets went backwards: the topic was recreated). */
void rows_add_gap(batch_t *b, const char *group, const char *topic,
                  int32_t partition, int64_t first, int64_t last,
                  const char *kind);

#endif
