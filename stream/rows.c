/*
 * rows.c - message validation and row building for ecom-stream (see rows.h).
 * Column orders follow the BATCH_COLS_* lists in batch.h.
 */
#include "rows.h"
#include "js.h"
#include "schema.h"
#include "ts.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes bytes as text with every non-printable or non-ASCII byte as \xNN
 * (and backslash as \\), for payloads that are not valid UTF-8. */
static char *escape_bytes(const unsigned char *s, size_t len, size_t *out_len)
{
    static const char hex[] = "0123456789abcdef";
    char *out = malloc(len * 4 + 1);
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* Appends bytes[0..len) and then how they are stored: "utf8" as they are,
 * "escape" (not UTF-8, or holding NUL: escape_bytes()), or "null" (\N).
 * Returns -1 when out of memory. */
static int add_bytes(batch_buf_t *buf, const void *bytes, size_t len)
{
    char *escaped;
    size_t escaped_len = 0;

    if (bytes == NULL) {
        batch_field(buf, 0, NULL);
        batch_field(buf, 0, "null");
        return 0;
    }
    if (utf8_is_text(bytes, len)) {
        batch_field_len(buf, 0, bytes, len);
        batch_field(buf, 0, "utf8");
        return 0;
    }
    escaped = escape_bytes(bytes, len, &escaped_len);
    if (escaped == NULL)
        return -1;
    batch_field_len(buf, 0, escaped, escaped_len);
    batch_field(buf, 0, "escape");
    free(escaped);
    return 0;
}

/* How much of the payload a dead letter keeps (see rows.h): all of it,
 * unless the message was rejected for its size. */
static size_t kept_bytes(const rows_conf_t *conf, const rows_msg_t *m)
{
    size_t cut;

    if (m->payload == NULL || m->len <= conf->max_bytes || m->len <= ROWS_DEAD_LETTER_PREFIX)
        return m->len;
    cut = utf8_cut(m->payload, m->len, ROWS_DEAD_LETTER_PREFIX);
    return utf8_is_text(m->payload, cut) ? cut : ROWS_DEAD_LETTER_PREFIX;
}

int rows_add_dead_letter(batch_buf_t *buf, const rows_conf_t *conf, const rows_msg_t *m,
                         const char *reason)
{
    size_t kept = kept_bytes(conf, m);

    batch_field(buf, 1, conf->group);
    batch_field(buf, 0, m->topic);
    batch_field_int(buf, 0, m->partition);
    batch_field_int(buf, 0, m->offset);
    if (add_bytes(buf, m->key, m->key_len) != 0 || add_bytes(buf, m->payload, kept) != 0)
        return -1;
    batch_field_int(buf, 0, (int64_t)m->len);
    batch_field(buf, 0, kept < m->len ? "t" : "f");
    batch_field(buf, 0, reason);
    batch_end_row(buf);
    return buf->buf.oom ? -1 : 0;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int64_t cents(const json_t *obj, const char *key)
{
    int64_t v = 0;
    json_t *n = json_object_get(obj, key);
    if (n != NULL)
        js_number_to_cents(n, &v);
    return v;
}

static void add_time(batch_buf_t *buf, int64_t event_ms)
{
    char stamp[TS_RFC3339_LEN];
    batch_field(buf, 0, ts_format_rfc3339(event_ms, stamp));
}

static void add_user_event(batch_t *b, const rows_msg_t *m, const json_t *root,
                           const schema_result_t *res, int late)
{
    batch_buf_t *buf = &b->tables[BATCH_USER_EVENTS];
    int search = strcmp(str(root, "event_type"), "search") == 0;

    batch_field(buf, 1, str(root, "event_id"));
    batch_field(buf, 0, str(root, "user_id"));
    batch_field(buf, 0, str(root, "event_type"));
    add_time(buf, res->event_ms);
    batch_field(buf, 0, search ? NULL : str(root, "product_id"));
    batch_field(buf, 0, search ? NULL : str(root, "product_name"));
    batch_field(buf, 0, search ? NULL : str(root, "category"));
    if (search)
        batch_field(buf, 0, NULL);
    else
        batch_field_cents(buf, 0, cents(root, "price"));
    batch_field(buf, 0, search ? str(root, "search_query") : NULL);
    batch_field(buf, 0, str(root, "session_id"));
    batch_field(buf, 0, str(root, "ip_address"));
    batch_field(buf, 0, str(root, "user_agent"));
    batch_field_int(buf, 0, m->partition);
    batch_field_int(buf, 0, m->offset);
    batch_field(buf, 0, late ? "t" : "f");
    batch_end_row(buf);
}

static void add_money_or_zero(batch_buf_t *buf, const json_t *root, const char *key)
{
    batch_field_cents(buf, 0, cents(root, key));
}

static int add_transaction(batch_t *b, const rows_msg_t *m, const json_t *root,
                           const schema_result_t *res, int late)
{
    batch_buf_t *buf = &b->tables[BATCH_TRANSACTIONS];
    batch_buf_t *items_buf = &b->tables[BATCH_TRANSACTION_ITEMS];
    json_t *items = json_object_get(root, "items");
    json_t *address = json_object_get(root, "shipping_address");
    char *address_text = NULL;

    if (address != NULL && json_is_object(address)) {
        address_text = json_dumps(address, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (address_text == NULL)
            return -1;
    }
    batch_field(buf, 1, str(root, "transaction_id"));
    batch_field(buf, 0, str(root, "user_id"));
    add_time(buf, res->event_ms);
    batch_field(buf, 0, str(root, "payment_method"));
    add_money_or_zero(buf, root, "total_amount");
    add_money_or_zero(buf, root, "tax_amount");
    add_money_or_zero(buf, root, "shipping_cost");
    batch_field(buf, 0, address_text);
    batch_field_int(buf, 0, (int64_t)json_array_size(items));
    batch_field(buf, 0, res->totals_match ? "t" : "f");
    batch_field_int(buf, 0, m->partition);
    batch_field_int(buf, 0, m->offset);
    batch_field(buf, 0, late ? "t" : "f");
    batch_end_row(buf);
    free(address_text);

    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        batch_field(items_buf, 1, str(root, "transaction_id"));
        batch_field_int(items_buf, 0, (int64_t)i + 1);
        add_time(items_buf, res->event_ms);
        batch_field(items_buf, 0, str(it, "product_id"));
        batch_field(items_buf, 0, str(it, "product_name"));
        batch_field_cents(items_buf, 0, cents(it, "price"));
        batch_field_int(items_buf, 0, json_integer_value(json_object_get(it, "quantity")));
        batch_field_cents(items_buf, 0, cents(it, "item_total"));
        batch_end_row(items_buf);
    }
    return 0;
}

static void add_inventory(batch_t *b, const rows_msg_t *m, const json_t *root,
                          const schema_result_t *res, int late)
{
    batch_buf_t *buf = &b->tables[BATCH_INVENTORY_UPDATES];

    batch_field(buf, 1, str(root, "event_id"));
    batch_field(buf, 0, str(root, "product_id"));
    batch_field(buf, 0, str(root, "product_name"));
    batch_field_int(buf, 0, json_integer_value(json_object_get(root, "stock_change")));
    batch_field_int(buf, 0, json_integer_value(json_object_get(root, "current_stock")));
    batch_field(buf, 0, str(root, "warehouse_location"));
    add_time(buf, res->event_ms);
    batch_field_int(buf, 0, m->partition);
    batch_field_int(buf, 0, m->offset);
    batch_field(buf, 0, late ? "t" : "f");
    batch_end_row(buf);
}

/* The dead-letter row gets the whole reason (schema.c keeps it valid
 * UTF-8); the caller's copy may be shorter, for its log only. */
static int reject(batch_t *b, const rows_conf_t *conf, const rows_msg_t *m,
                  const char *why, char *reason, size_t reason_size)
{
    if (reason_size > 0)
        snprintf(reason, reason_size, "%s", why);
    return rows_add_dead_letter(&b->tables[BATCH_DEAD_LETTERS], conf, m, why) == 0 ? 0 : -1;
}

int rows_add_message(batch_t *b, const rows_conf_t *conf, const rows_msg_t *m,
                     int64_t now_ms, char *reason, size_t reason_size)
{
    int topic = schema_topic_from_name(m->topic);
    schema_result_t res;
    json_t *root = NULL;
    int rc = 1, late;

    if (topic < 0) {
        snprintf(res.reason, sizeof(res.reason), "no schema for topic \"%s\"", m->topic);
        return reject(b, conf, m, res.reason, reason, reason_size);
    }
    if (schema_check((schema_topic_t)topic, m->payload, m->len, conf->max_bytes, now_ms,
                     &root, &res) != 0)
        return reject(b, conf, m, res.reason, reason, reason_size);
    if (batch_note_message(b, topic, m->partition, m->offset, m->key, m->key_len, m->payload,
                           m->len) != 0) {
        json_decref(root);
        return -1;
    }
    late = m->late != NULL && m->late(m->late_arg, res.event_ms);
    switch (topic) {
    case SCHEMA_USER_EVENTS:
        add_user_event(b, m, root, &res, late);
        break;
    case SCHEMA_TRANSACTIONS:
        if (add_transaction(b, m, root, &res, late) != 0)
            rc = -1;
        break;
    default:
        add_inventory(b, m, root, &res, late);
    }
    json_decref(root);
    return rc < 0 || batch_oom(b) ? -1 : 1;
}

void rows_add_gap(batch_t *b, const char *group, const char *topic,
                  int32_t partition, int64_t first, int64_t last, const char *kind)
{
    batch_buf_t *buf = &b->tables[BATCH_GAPS];

    batch_field(buf, 1, group);
    batch_field(buf, 0, topic);
    batch_field_int(buf, 0, partition);
    batch_field_int(buf, 0, first);
    batch_field_int(buf, 0, last);
    batch_field(buf, 0, kind);
    batch_end_row(buf);
}
