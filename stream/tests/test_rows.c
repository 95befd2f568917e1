/*
 * test_rows.c - unit tests of message validation and row building: valid
 * messages of each topic become the expected COPY rows; a corpus of hostile
 * messages becomes dead letters, each with its own reason; payloads that are
 * not UTF-8 are stored escaped; oversized payloads keep a bounded prefix and
 * their size; COPY escaping of tabs, newlines, backslashes; the map from
 * topics to raw tables; the records of valid messages (rows, key, payload)
 * and the dead letter built from one.
 */
#include "batch.h"
#include "rows.h"
#include "schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static const rows_conf_t conf = {"test-group", SCHEMA_MAX_MESSAGE_BYTES};

static const char *const valid_view =
    "{\"event_id\":\"0b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10\",\"user_id\":\"U0042\","
    "\"event_type\":\"product_view\",\"timestamp\":\"2025-12-31T23:59:59.250Z\","
    "\"product_id\":\"P001\",\"product_name\":\"iPhone 15 Pro\",\"category\":\"Electronics\","
    "\"price\":999.99,\"session_id\":\"session_7\",\"ip_address\":\"10.0.42.43\","
    "\"user_agent\":\"Mozilla/5.0\\ttab\"}";

static const char *const valid_txn =
    "{\"transaction_id\":\"5f0c6a52-3a43-4b7a-8f4e-2c1d0e9b8a71\",\"user_id\":\"U0001\","
    "\"event_type\":\"purchase\",\"timestamp\":\"2025-12-31T10:00:00Z\",\"payment_method\":\"paypal\","
    "\"items\":[{\"product_id\":\"P005\",\"product_name\":\"Nike Air Max 270\",\"price\":150.00,"
    "\"quantity\":2,\"item_total\":300.00},{\"product_id\":\"P009\",\"product_name\":\"Instant Pot\","
    "\"price\":89.99,\"quantity\":1,\"item_total\":89.99}],\"total_amount\":421.19,"
    "\"tax_amount\":31.20,\"shipping_cost\":0,\"shipping_address\":{\"city\":\"Paris\"}}";

static const char *const valid_inventory =
    "{\"event_id\":\"9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d\",\"event_type\":\"inventory_update\","
    "\"product_id\":\"P003\",\"product_name\":\"MacBook Air M3\",\"stock_change\":-5,"
    "\"current_stock\":245,\"warehouse_location\":\"NYC\",\"timestamp\":\"2025-12-31T10:30:00Z\"}";

static int add(batch_t *b, const char *topic, const void *payload, size_t len, char *reason)
{
    static int64_t offset;
    rows_msg_t m = {topic, 0, offset++, "K1", 2, payload, len, NULL, NULL};
    return rows_add_message(b, &conf, &m, NOW_MS, reason, 256);
}

static int add_text(batch_t *b, const char *topic, const char *payload, char *reason)
{
    return add(b, topic, payload, strlen(payload), reason);
}

static char *row_text(const batch_t *b, batch_table_t t)
{
    return strndup(b->tables[t].buf.data, b->tables[t].buf.len);
}

static void test_valid_rows(void **state)
{
    batch_t b;
    char reason[256], *row;
    (void)state;

    batch_init(&b);
    assert_int_equal(add_text(&b, "user-events", valid_view, reason), 1);
    assert_int_equal(add_text(&b, "transactions", valid_txn, reason), 1);
    assert_int_equal(add_text(&b, "inventory-updates", valid_inventory, reason), 1);

    row = row_text(&b, BATCH_USER_EVENTS);
    assert_string_equal(row, "0b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10\tU0042\tproduct_view\t"
                             "2025-12-31T23:59:59.250Z\tP001\tiPhone 15 Pro\tElectronics\t999.99\t\\N\t"
                             "session_7\t10.0.42.43\tMozilla/5.0\\ttab\t0\t0\tf\n");
    free(row);
    row = row_text(&b, BATCH_TRANSACTIONS);
    assert_string_equal(row, "5f0c6a52-3a43-4b7a-8f4e-2c1d0e9b8a71\tU0001\t2025-12-31T10:00:00.000Z\t"
                             "paypal\t421.19\t31.20\t0.00\t{\"city\":\"Paris\"}\t2\tt\t0\t1\tf\n");
    free(row);
    row = row_text(&b, BATCH_TRANSACTION_ITEMS);
    assert_string_equal(row, "5f0c6a52-3a43-4b7a-8f4e-2c1d0e9b8a71\t1\t2025-12-31T10:00:00.000Z\tP005\t"
                             "Nike Air Max 270\t150.00\t2\t300.00\n"
                             "5f0c6a52-3a43-4b7a-8f4e-2c1d0e9b8a71\t2\t2025-12-31T10:00:00.000Z\tP009\t"
                             "Instant Pot\t89.99\t1\t89.99\n");
    free(row);
    row = row_text(&b, BATCH_INVENTORY_UPDATES);
    assert_string_equal(row, "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d\tP003\tMacBook Air M3\t-5\t245\tNYC\t"
                             "2025-12-31T10:30:00.000Z\t0\t2\tf\n");
    free(row);
    assert_int_equal(b.tables[BATCH_DEAD_LETTERS].rows, 0);
    batch_free(&b);
}

/* The late callback sees the parsed event time and sets the late column;
 * a dead letter never asks it. */
static int late_before(void *arg, int64_t event_ms)
{
    int64_t *bound = arg;
    bound[1]++;
    return event_ms < bound[0];
}

static void test_late_column(void **state)
{
    /* valid_view is at 2025-12-31T23:59:59.250Z, valid_inventory at 10:30 */
    int64_t arg[2] = {1767225599250LL, 0};
    rows_msg_t m = {"user-events", 0, 1, NULL, 0, valid_view, strlen(valid_view), late_before, arg};
    char reason[256], *row;
    batch_t b;
    (void)state;

    batch_init(&b);
    assert_int_equal(rows_add_message(&b, &conf, &m, NOW_MS, reason, sizeof(reason)), 1);
    m = (rows_msg_t){"inventory-updates", 0, 2, NULL, 0, valid_inventory, strlen(valid_inventory),
                     late_before, arg};
    assert_int_equal(rows_add_message(&b, &conf, &m, NOW_MS, reason, sizeof(reason)), 1);
    m = (rows_msg_t){"user-events", 0, 3, NULL, 0, "{}", 2, late_before, arg};
    assert_int_equal(rows_add_message(&b, &conf, &m, NOW_MS, reason, sizeof(reason)), 0);
    assert_int_equal(arg[1], 2);
    row = row_text(&b, BATCH_USER_EVENTS);
    assert_true(strlen(row) > 3 && strcmp(row + strlen(row) - 3, "\tf\n") == 0);
    free(row);
    row = row_text(&b, BATCH_INVENTORY_UPDATES);
    assert_true(strlen(row) > 3 && strcmp(row + strlen(row) - 3, "\tt\n") == 0);
    free(row);
    batch_free(&b);
}

/* Valid messages are recorded (where their rows start, key and payload
 * kept) for sink.c to write them one by one; dead letters are not; a
 * reset forgets them; a dead letter built from a record is the message's. */
static void test_message_records(void **state)
{
    batch_t b;
    char reason[256];
    const batch_msg_t *m;
    batch_buf_t dl = {{NULL, 0, 0, 0}, 0};
    rows_msg_t msg;
    char *row;
    (void)state;

    batch_init(&b);
    assert_int_equal(add_text(&b, "user-events", valid_view, reason), 1);
    assert_int_equal(add_text(&b, "user-events", "{\"bad\":1}", reason), 0);
    assert_int_equal(add_text(&b, "transactions", valid_txn, reason), 1);
    assert_int_equal(add_text(&b, "inventory-updates", valid_inventory, reason), 1);
    assert_int_equal(b.msg_count, 3);
    m = &b.msgs[1];
    assert_int_equal(m->topic, SCHEMA_TRANSACTIONS);
    assert_int_equal(m->partition, 0);
    assert_int_equal(m->offset, b.msgs[0].offset + 2);
    assert_true(m->has_key);
    assert_memory_equal(b.kept.data + m->key_at, "K1", 2);
    assert_int_equal(m->payload_len, strlen(valid_txn));
    assert_memory_equal(b.kept.data + m->payload_at, valid_txn, strlen(valid_txn));
    /* rows: the view's in user_events, the transaction's and both items,
     * the update's */
    for (int t = 0; t < BATCH_RAW_TABLES; t++)
        assert_int_equal(batch_msg_rows_start(&b, 0, t), 0);
    assert_int_equal(batch_msg_rows_end(&b, 0, BATCH_USER_EVENTS), b.tables[BATCH_USER_EVENTS].buf.len);
    assert_int_equal(batch_msg_rows_end(&b, 0, BATCH_TRANSACTIONS), 0);
    assert_int_equal(batch_msg_rows_start(&b, 1, BATCH_TRANSACTIONS), 0);
    assert_int_equal(batch_msg_rows_end(&b, 1, BATCH_TRANSACTIONS), b.tables[BATCH_TRANSACTIONS].buf.len);
    assert_int_equal(batch_msg_rows_end(&b, 1, BATCH_TRANSACTION_ITEMS),
                     b.tables[BATCH_TRANSACTION_ITEMS].buf.len);
    assert_int_equal(batch_msg_rows_end(&b, 1, BATCH_INVENTORY_UPDATES), 0);
    assert_int_equal(batch_msg_rows_start(&b, 2, BATCH_INVENTORY_UPDATES), 0);
    assert_int_equal(batch_msg_rows_end(&b, 2, BATCH_INVENTORY_UPDATES),
                     b.tables[BATCH_INVENTORY_UPDATES].buf.len);
    assert_int_equal(batch_msg_rows_start(&b, 3, BATCH_USER_EVENTS), b.tables[BATCH_USER_EVENTS].buf.len);

    /* The dead letter sink.c writes for the transaction, from its record. */
    msg = (rows_msg_t){"transactions", m->partition, m->offset, b.kept.data + m->key_at, m->key_len,
                       b.kept.data + m->payload_at, m->payload_len, NULL, NULL};
    assert_int_equal(rows_add_dead_letter(&dl, &conf, &msg, "rejected by PostgreSQL: x"), 0);
    row = strndup(dl.buf.data, dl.buf.len);
    assert_non_null(strstr(row, "test-group\ttransactions\t0\t"));
    assert_non_null(strstr(row, "\tK1\tutf8\t{\"transaction_id\":\"5f0c6a52"));
    assert_non_null(strstr(row, "\tutf8\t"));
    assert_non_null(strstr(row, "\tf\trejected by PostgreSQL: x\n"));
    assert_int_equal(dl.rows, 1);
    free(row);
    buf_free(&dl.buf);

    batch_reset(&b);
    assert_int_equal(b.msg_count, 0);
    assert_int_equal(b.kept.len, 0);
    assert_int_equal(add_text(&b, "inventory-updates", valid_inventory, reason), 1);
    assert_int_equal(b.msg_count, 1);
    assert_int_equal(b.msgs[0].payload_at, 2);
    batch_free(&b);
}

static void test_totals_mismatch_is_stored_and_flagged(void **state)
{
    batch_t b;
    char reason[256], *row, *bad = strdup(valid_txn);
    (void)state;

    memcpy(strstr(bad, "421.19"), "999.99", 6);
    batch_init(&b);
    assert_int_equal(add_text(&b, "transactions", bad, reason), 1);
    row = row_text(&b, BATCH_TRANSACTIONS);
    assert_non_null(strstr(row, "\t2\tf\t"));
    free(row);
    free(bad);
    batch_free(&b);
}

/* Replaces the first occurrence of from with to (caller frees). */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);

    assert_non_null(at);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

typedef struct {
    const char *name;
    const char *topic;
    const char *base; /* message to mutate, or NULL for raw */
    const char *from;
    const char *to;
    const char *reason; /* expected substring of the reason */
} hostile_t;

static const hostile_t hostile[] = {
    {"truncated", "user-events", NULL, "{\"event_id\":\"0b8f", NULL, "invalid JSON"},
    {"not an object", "user-events", NULL, "[1,2,3]", NULL, "not a JSON object"},
    {"empty", "user-events", NULL, "", NULL, "message is empty"},
    {"wrong type user_id", "user-events", "view", "\"U0042\"", "42", "\"user_id\" must be a string"},
    {"missing event_id", "user-events", "view", "\"event_id\"", "\"eid\"", "missing required field \"event_id\""},
    {"bad uuid", "user-events", "view", "0b8f5e0e-4a47", "0b8f5e0e-4a4Z", "not a uuid"},
    {"unknown event type", "user-events", "view", "product_view", "teleport", "unknown event_type \"teleport\""},
    {"year 9999", "user-events", "view", "2025-12-31T23:59:59.250Z", "9999-12-31T23:59:59Z", "in the future"},
    {"unparsable time", "user-events", "view", "2025-12-31T23:59:59.250Z", "yesterday", "not an RFC 3339"},
    {"huge price", "user-events", "view", "999.99", "1e300", "\"price\" is out of range"},
    {"negative price", "user-events", "view", "999.99", "-1", "\"price\" must not be negative"},
    {"price as string", "user-events", "view", "999.99", "\"999.99\"", "\"price\" must be a number"},
    {"search without query", "user-events", "view", "product_view", "search", "missing required field \"search_query\""},
    {"negative quantity", "transactions", "txn", "\"quantity\":2", "\"quantity\":-2", "items[0]: field \"quantity\" is out of range"},
    {"fractional quantity", "transactions", "txn", "\"quantity\":2", "\"quantity\":2.5", "\"quantity\" must be an integer"},
    {"item total mismatch", "transactions", "txn", "\"item_total\":300.00", "\"item_total\":301.00", "is not price x quantity"},
    {"no items", "transactions", "txn", "\"items\":[", "\"items\":[],\"x\":[", "must hold 1 to"},
    {"wrong txn event type", "transactions", "txn", "\"purchase\"", "\"refund\"", "unknown event_type \"refund\""},
    {"negative stock", "inventory-updates", "inv", "\"current_stock\":245", "\"current_stock\":-1", "\"current_stock\" is out of range"},
    {"huge number", "inventory-updates", "inv", "-5", "123456789012345678901234567890", "invalid JSON"},
    {"duplicate key", "inventory-updates", "inv", "\"product_id\":\"P003\"", "\"product_id\":\"P003\",\"product_id\":\"P004\"", "invalid JSON"},
    {"escaped NUL", "inventory-updates", "inv", "MacBook", "Mac\\u0000Book", "invalid JSON"},
};

static void test_hostile_corpus(void **state)
{
    const size_t n = sizeof(hostile) / sizeof(hostile[0]);
    char reasons[sizeof(hostile) / sizeof(hostile[0])][256];
    batch_t b;
    (void)state;

    batch_init(&b);
    for (size_t i = 0; i < n; i++) {
        const hostile_t *h = &hostile[i];
        const char *base = h->base == NULL ? NULL : strcmp(h->base, "view") == 0 ? valid_view
                           : strcmp(h->base, "txn") == 0 ? valid_txn : valid_inventory;
        char *msg = base ? replace(base, h->from, h->to) : strdup(h->from);
        int rc = add_text(&b, h->topic, msg, reasons[i]);
        if (rc != 0 || strstr(reasons[i], h->reason) == NULL)
            fail_msg("%s: rc %d, reason \"%s\", expected \"%s\"", h->name, rc, reasons[i], h->reason);
        free(msg);
    }
    assert_int_equal(b.tables[BATCH_DEAD_LETTERS].rows, n);
    assert_int_equal(b.tables[BATCH_USER_EVENTS].rows, 0);
    batch_free(&b);
}

static void test_raw_bytes(void **state)
{
    static const char nul_inside[] = "{\"event_id\":\0\"x\"}";
    static const unsigned char latin1[] = {'{', '"', 'a', '"', ':', '"', 0xe9, '"', '}'};
    char reason[256], *row;
    char *big = malloc(2 * 1024 * 1024 + 1);
    batch_t b;
    rows_msg_t null_value = {"user-events", 1, 7, NULL, 0, NULL, 0, NULL, NULL};
    (void)state;

    batch_init(&b);
    assert_int_equal(add(&b, "user-events", nul_inside, sizeof(nul_inside) - 1, reason), 0);
    assert_non_null(strstr(reason, "NUL byte"));
    assert_int_equal(add(&b, "user-events", latin1, sizeof(latin1), reason), 0);
    assert_non_null(strstr(reason, "invalid JSON"));
    memset(big, ' ', 2 * 1024 * 1024);
    big[0] = '{';
    big[2 * 1024 * 1024 - 1] = '}';
    big[2 * 1024 * 1024] = '\0';
    assert_int_equal(add(&b, "user-events", big, 2 * 1024 * 1024, reason), 0);
    assert_non_null(strstr(reason, "over the 65536 byte limit"));
    assert_int_equal(rows_add_message(&b, &conf, &null_value, NOW_MS, reason, sizeof(reason)), 0);
    assert_string_equal(reason, "message value is null");
    assert_int_equal(add_text(&b, "no-such-topic", valid_view, reason), 0);
    assert_non_null(strstr(reason, "no schema for topic"));

    row = row_text(&b, BATCH_DEAD_LETTERS);
    /* NUL and invalid UTF-8 payloads are stored escaped, the null as \N */
    assert_non_null(strstr(row, "{\"event_id\":\\\\x00\"x\"}\tescape\t"));
    assert_non_null(strstr(row, "\"\\\\xe9\"}\tescape\t"));
    assert_non_null(strstr(row, "\t1\t7\t\\N\tnull\t\\N\tnull\t0\tf\tmessage value is null\n"));
    /* the 2 MiB message keeps its first 4096 bytes and its size */
    assert_non_null(strstr(row, "\tK1\tutf8\t{    "));
    assert_non_null(strstr(row, "    \tutf8\t2097152\tt\tmessage is 2097152 bytes"));
    assert_int_equal(b.tables[BATCH_DEAD_LETTERS].rows, 5);
    free(row);
    free(big);
    batch_free(&b);
}

/* The dead-letter fields of the batch's only dead letter: payload,
 * payload_encoding, payload_bytes, payload_truncated (caller frees). */
static char **dead_letter_fields(const batch_t *b)
{
    char *row = row_text(b, BATCH_DEAD_LETTERS), *p = row;
    char **f = calloc(12, sizeof(*f));

    assert_int_equal(b->tables[BATCH_DEAD_LETTERS].rows, 1);
    for (int i = 0; i < 11; i++) {
        size_t n = strcspn(p, "\t\n");
        f[i] = strndup(p, n);
        p += n + 1;
    }
    free(row);
    return f;
}

static void free_fields(char **f)
{
    for (int i = 0; f[i] != NULL; i++)
        free(f[i]);
    free(f);
}

/* Over the size limit: a bounded prefix, cut at a character when it is
 * text, escaped raw bytes otherwise; under it, whole; payload_bytes always
 * the original size. */
static void test_oversized_dead_letters(void **state)
{
    const rows_conf_t small = {"test-group", 5000};
    rows_msg_t m = {"user-events", 3, 9, "K1", 2, NULL, 0, NULL, NULL};
    char reason[256], **f, *msg = malloc(10000), num[24];
    batch_t b;
    (void)state;

    batch_init(&b);
    /* text with a two-byte character across byte 4096 */
    memset(msg, 'a', 10000);
    memcpy(msg + 4095, "\xc3\xa9", 2);
    m.payload = msg, m.len = 10000;
    assert_int_equal(rows_add_message(&b, &small, &m, NOW_MS, reason, sizeof(reason)), 0);
    assert_non_null(strstr(reason, "over the 5000 byte limit"));
    f = dead_letter_fields(&b);
    assert_int_equal(strlen(f[6]), 4095);
    assert_memory_equal(f[6], msg, 4095);
    assert_string_equal(f[7], "utf8");
    assert_string_equal(f[8], "10000");
    assert_string_equal(f[9], "t");
    free_fields(f);

    /* not text: the first 4096 bytes, escaped */
    batch_reset(&b);
    memset(msg, 0xff, 10000);
    assert_int_equal(rows_add_message(&b, &small, &m, NOW_MS, reason, sizeof(reason)), 0);
    f = dead_letter_fields(&b);
    assert_int_equal(strlen(f[6]), 4096 * 5); /* \xff, its backslash doubled by COPY */
    assert_memory_equal(f[6], "\\\\xff\\\\xff", 10);
    assert_string_equal(f[7], "escape");
    assert_string_equal(f[8], "10000");
    assert_string_equal(f[9], "t");
    free_fields(f);

    /* over the limit but within the prefix: whole */
    batch_reset(&b);
    memset(msg, 'b', 10000);
    m.len = 4096;
    assert_int_equal(rows_add_message(&b, &(rows_conf_t){"test-group", 4000}, &m, NOW_MS, reason,
                                      sizeof(reason)),
                     0);
    f = dead_letter_fields(&b);
    assert_int_equal(strlen(f[6]), 4096);
    assert_string_equal(f[9], "f");
    free_fields(f);

    /* rejected for another reason: whole, however long */
    batch_reset(&b);
    m.len = 9999;
    assert_int_equal(rows_add_message(&b, &conf, &m, NOW_MS, reason, sizeof(reason)), 0);
    assert_non_null(strstr(reason, "invalid JSON"));
    f = dead_letter_fields(&b);
    assert_int_equal(strlen(f[6]), 9999);
    snprintf(num, sizeof(num), "%d", 9999);
    assert_string_equal(f[8], num);
    assert_string_equal(f[9], "f");
    free_fields(f);
    free(msg);
    batch_free(&b);
}

/* Every topic's raw table is a batch table: the mapping ingest uses. */
static void test_topic_tables(void **state)
{
    (void)state;
    assert_int_equal(batch_topic_table(SCHEMA_USER_EVENTS), BATCH_USER_EVENTS);
    assert_int_equal(batch_topic_table(SCHEMA_TRANSACTIONS), BATCH_TRANSACTIONS);
    assert_int_equal(batch_topic_table(SCHEMA_INVENTORY), BATCH_INVENTORY_UPDATES);
    assert_int_equal(batch_table_from_name(schema_topics[SCHEMA_TRANSACTIONS].items_table),
                     BATCH_TRANSACTION_ITEMS);
    assert_int_equal(batch_topic_table(SCHEMA_TOPICS), -1);
    assert_int_equal(batch_table_from_name("no_such_table"), -1);
    for (int t = 0; t < BATCH_TABLES; t++)
        assert_int_equal(batch_table_from_name(batch_table_names[t]), t);
}

static void test_offsets_and_gaps(void **state)
{
    batch_t b;
    char *row;
    (void)state;

    batch_init(&b);
    assert_int_equal(batch_note_offset(&b, "user-events", 2, 10, 11), 0);
    assert_int_equal(batch_note_offset(&b, "user-events", 2, 99, 12), 0);
    assert_int_equal(batch_note_offset(&b, "transactions", 2, -1, 1), 0);
    assert_int_equal(b.offset_count, 2);
    assert_int_equal(b.offsets[0].committed_next, 10);
    assert_int_equal(b.offsets[0].next, 12);
    rows_add_gap(&b, "g", "user-events", 2, 12, 40, "retention");
    row = row_text(&b, BATCH_GAPS);
    assert_string_equal(row, "g\tuser-events\t2\t12\t40\tretention\n");
    free(row);
    batch_reset(&b);
    assert_int_equal(b.offset_count, 0);
    assert_int_equal(b.tables[BATCH_GAPS].buf.len, 0);
    batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_rows),
        cmocka_unit_test(test_late_column),
        cmocka_unit_test(test_message_records),
        cmocka_unit_test(test_totals_mismatch_is_stored_and_flagged),
        cmocka_unit_test(test_hostile_corpus),
        cmocka_unit_test(test_raw_bytes),
        cmocka_unit_test(test_oversized_dead_letters),
        cmocka_unit_test(test_topic_tables),
        cmocka_unit_test(test_offsets_and_gaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
