/*
 * batch.c - the in-memory batch between flushes (see batch.h): COPY text
 * buffers per table, partition offsets, Kafka timestamps for latency, and
 * the records of valid messages (where their rows are, key and payload).
 */
#include "batch.h"
#include "js.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const batch_table_names[BATCH_TABLES] = {
    "user_events", "transactions", "transaction_items", "inventory_updates",
    "dead_letter_events", "stream_gaps"};

const char *const batch_table_columns[BATCH_TABLES] = {
    BATCH_COLS_USER_EVENTS, BATCH_COLS_TRANSACTIONS, BATCH_COLS_TRANSACTION_ITEMS,
    BATCH_COLS_INVENTORY_UPDATES, BATCH_COLS_DEAD_LETTERS, BATCH_COLS_GAPS};

int batch_table_from_name(const char *name)
{
    for (int t = 0; t < BATCH_TABLES; t++)
        if (strcmp(name, batch_table_names[t]) == 0)
            return t;
    return -1;
}

int batch_topic_table(schema_topic_t topic)
{
    if ((int)topic < 0 || topic >= SCHEMA_TOPICS)
        return -1;
    return batch_table_from_name(schema_topics[topic].table);
}

void batch_init(batch_t *b) { memset(b, 0, sizeof(*b)); }

void batch_reset(batch_t *b)
{
    for (int t = 0; t < BATCH_TABLES; t++) {
        buf_reset(&b->tables[t].buf);
        b->tables[t].rows = 0;
    }
    memset(b->consumed, 0, sizeof(b->consumed));
    memset(b->dead, 0, sizeof(b->dead));
    memset(b->gaps, 0, sizeof(b->gaps));
    b->offset_count = 0;
    b->messages = 0;
    b->first_arrival_us = 0;
    b->create_count = 0;
    b->msg_count = 0;
    buf_reset(&b->kept);
    b->group_partitions = 0;
}

void batch_free(batch_t *b)
{
    if (b == NULL)
        return;
    for (int t = 0; t < BATCH_TABLES; t++)
        buf_free(&b->tables[t].buf);
    free(b->offsets);
    free(b->create_ms);
    free(b->msgs);
    buf_free(&b->kept);
    memset(b, 0, sizeof(*b));
}

int batch_oom(const batch_t *b)
{
    for (int t = 0; t < BATCH_TABLES; t++)
        if (b->tables[t].buf.oom)
            return 1;
    return b->kept.oom;
}

size_t batch_text_bytes(const batch_t *b)
{
    size_t n = 0;

    for (int t = 0; t < BATCH_TABLES; t++)
        n += b->tables[t].buf.len;
    return n;
}

static void append(batch_buf_t *buf, const char *s, size_t n)
{
    buf_append(&buf->buf, s, n);
}

void batch_field_len(batch_buf_t *buf, int first, const char *text, size_t len)
{
    const char *run;

    if (!first)
        append(buf, "\t", 1);
    if (text == NULL) {
        append(buf, "\\N", 2);
        return;
    }
    run = text;
    for (size_t i = 0; i < len; i++) {
        const char *esc;
        switch (text[i]) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        default: continue;
        }
        append(buf, run, (size_t)(text + i - run));
        append(buf, esc, 2);
        run = text + i + 1;
    }
    append(buf, run, (size_t)(text + len - run));
}

void batch_field(batch_buf_t *buf, int first, const char *text)
{
    batch_field_len(buf, first, text, text ? strlen(text) : 0);
}

void batch_field_int(batch_buf_t *buf, int first, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);
    if (!first)
        append(buf, "\t", 1);
    append(buf, num, (size_t)n);
}

void batch_field_cents(batch_buf_t *buf, int first, int64_t cents)
{
    char num[32];
    int n = js_format_cents(cents, num, sizeof(num));
    if (!first)
        append(buf, "\t", 1);
    append(buf, num, (size_t)n);
}

void batch_end_row(batch_buf_t *buf)
{
    append(buf, "\n", 1);
    buf->rows++;
}

/* Makes room for one more element in *array (count used, *cap allocated,
 * doubling from first_cap). Returns -1 when out of memory. */
static int grow(void **array, size_t count, size_t *cap, size_t elem, size_t first_cap)
{
    size_t new_cap;
    void *grown;

    if (count < *cap)
        return 0;
    new_cap = *cap ? *cap * 2 : first_cap;
    grown = realloc(*array, new_cap * elem);
    if (grown == NULL)
        return -1;
    *array = grown;
    *cap = new_cap;
    return 0;
}

int batch_note_offset(batch_t *b, const char *topic, int32_t partition,
                      int64_t committed_next, int64_t next)
{
    batch_offset_t *o;

    for (size_t i = 0; i < b->offset_count; i++) {
        o = &b->offsets[i];
        if (o->partition == partition && strcmp(o->topic, topic) == 0) {
            o->next = next;
            return 0;
        }
    }
    if (grow((void **)&b->offsets, b->offset_count, &b->offset_cap, sizeof(*b->offsets), 16) != 0)
        return -1;
    b->offsets[b->offset_count++] =
        (batch_offset_t){topic, partition, committed_next, next, BATCH_NO_TIME, BATCH_NO_TIME};
    return 0;
}

int batch_note_mark(batch_t *b, const char *topic, int32_t partition,
                    int64_t max_ts, int64_t watermark)
{
    for (size_t i = 0; i < b->offset_count; i++) {
        batch_offset_t *o = &b->offsets[i];
        if (o->partition == partition && strcmp(o->topic, topic) == 0) {
            o->max_ts = max_ts;
            o->watermark = watermark;
            return 0;
        }
    }
    return -1;
}

int batch_note_create_time(batch_t *b, int64_t create_ms)
{
    if (grow((void **)&b->create_ms, b->create_count, &b->create_cap, sizeof(*b->create_ms), 1024) != 0)
        return -1;
    b->create_ms[b->create_count++] = create_ms;
    return 0;
}

int batch_note_message(batch_t *b, int topic, int32_t partition, int64_t offset,
                       const void *key, size_t key_len, const void *payload,
                       size_t payload_len)
{
    batch_msg_t *m;

    if (grow((void **)&b->msgs, b->msg_count, &b->msg_cap, sizeof(*b->msgs), 1024) != 0)
        return -1;
    m = &b->msgs[b->msg_count];
    memset(m, 0, sizeof(*m));
    m->topic = topic;
    m->partition = partition;
    m->offset = offset;
    for (int t = 0; t < BATCH_RAW_TABLES; t++)
        m->start[t] = b->tables[t].buf.len;
    m->has_key = key != NULL;
    m->key_at = b->kept.len;
    m->key_len = key != NULL ? key_len : 0;
    buf_append(&b->kept, key, m->key_len);
    m->payload_at = b->kept.len;
    m->payload_len = payload_len;
    buf_append(&b->kept, payload, payload_len);
    if (b->kept.oom)
        return -1;
    b->msg_count++;
    return 0;
}

size_t batch_msg_rows_start(const batch_t *b, size_t i, int t)
{
    return i < b->msg_count ? b->msgs[i].start[t] : b->tables[t].buf.len;
}

size_t batch_msg_rows_end(const batch_t *b, size_t i, int t)
{
    return batch_msg_rows_start(b, i + 1, t);
}
