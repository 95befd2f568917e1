/*
 * fuzz_rows.c - libFuzzer target for message validation (common/schema.c)
 * and row building (stream/rows.c, stream/batch.c). It owns no state between
 * inputs: each input goes into a fresh batch, which is freed before return.
 *
 * Input layout (the seed corpus keeps the two header bytes printable):
 *   byte 0   topic, modulo 4: 0 user-events, 1 transactions,
 *            2 inventory-updates, 3 "no-such-topic" (no schema)
 *   byte 1   variation: bits 0-1 the key (0 NULL, 1 "K1", 2 bytes that are
 *            not UTF-8, 3 the first 16 bytes of the payload); bit 2 a NULL
 *            payload; bit 3 a 256-byte size limit instead of 64 KiB;
 *            bits 4-7 the partition plus one (15: partition 14 and offset
 *            INT64_MAX). "1" (0x31) is key "K1", partition 2.
 *   rest     the payload
 *
 * After rows_add_message (fixed clock, NOW_MS) it checks, and abort()s when
 * one breaks: the return value is 0 or 1; exactly one row went to the
 * topic's raw table (plus its items for a transaction) or to the dead
 * letters, nothing anywhere else; every COPY row has the column count of its
 * BATCH_COLS_* list, uses only the escapes \\ \t \n \r and \N (alone), ends
 * with '\n', holds no raw NUL or CR, and decodes to valid UTF-8 (the database
 * would reject anything else and fail the whole batch); key columns, times,
 * amounts and integers are in their SQL types' ranges; item rows match
 * item_count; a dead letter gives back the exact key bytes, the payload
 * bytes (whole, or for a message over the size limit its bounded prefix,
 * cut at a character boundary when text), the payload's size, whether it
 * was cut, and a non-empty reason. As a side check, the payload as a string goes through
 * ts_parse_rfc3339 -> ts_format_rfc3339 -> ts_parse_rfc3339, and its first
 * 8 bytes as epoch milliseconds through format -> parse.
 *
 * Built with -fsanitize=fuzzer by stream/tests/CMakeLists.fuzz.cmake
 * (scripts/fuzz.sh); fuzz_replay.c runs the corpus without libFuzzer.
 */
#include "batch.h"
#include "rows.h"
#include "schema.h"
#include "ts.h"
#include "utf8.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1798761600000LL      /* 2027-01-01T00:00:00Z */
#define MIN_EVENT_MS 946684800000LL /* 2000-01-01T00:00:00Z */
#define MAX_FUTURE_MS (24LL * 3600 * 1000)
#define TS_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define TS_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */
#define SMALL_LIMIT 256
#define MAX_FIELDS 16
#define GROUP "fuzz-group"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const topics[4] = {"user-events", "transactions",
                                      "inventory-updates", "no-such-topic"};
static const char not_utf8_key[] = "\xff\x00k\t\\";

/* One COPY row, decoded: fields point into store; NULL text is \N. */
typedef struct {
    const char *text[MAX_FIELDS];
    size_t len[MAX_FIELDS];
    int n;
    char *store;
} row_t;

static void broken(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Reports a broken invariant and aborts: libFuzzer saves the input. */
static void broken(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz_rows: invariant broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            broken(__VA_ARGS__);                                               \
    } while (0)

static int column_count(batch_table_t t)
{
    int n = 1;
    for (const char *c = batch_table_columns[t]; *c; c++)
        n += *c == ',';
    return n;
}

/* Decodes one COPY text row (without its '\n') into r; checks the escapes,
 * raw bytes and UTF-8 of every field. Free r->store. */
static void parse_row(const char *s, size_t len, const char *table, row_t *r)
{
    size_t i = 0, o = 0;

    r->store = malloc(len + 1);
    if (r->store == NULL)
        abort();
    r->n = 0;
    for (;;) {
        CHECK(r->n < MAX_FIELDS, "%s: more than %d fields", table, MAX_FIELDS);
        r->text[r->n] = r->store + o;
        r->len[r->n] = 0;
        if (len - i >= 2 && s[i] == '\\' && s[i + 1] == 'N' && (i + 2 == len || s[i + 2] == '\t')) {
            r->text[r->n] = NULL;
            i += 2;
        } else {
            while (i < len && s[i] != '\t') {
                char c = s[i++];
                if (c == '\\') {
                    CHECK(i < len, "%s: row ends in a lone backslash", table);
                    switch (s[i++]) {
                    case '\\': c = '\\'; break;
                    case 't': c = '\t'; break;
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    default:
                        broken("%s: field %d has the escape \"\\%c\", which COPY would misread",
                               table, r->n + 1, s[i - 1]);
                    }
                } else {
                    CHECK(c != '\0' && c != '\r', "%s: field %d holds raw byte 0x%02x",
                          table, r->n + 1, (unsigned char)c);
                }
                r->store[o++] = c;
                r->len[r->n]++;
            }
            r->store[o++] = '\0';
            CHECK(utf8_is_text(r->text[r->n], r->len[r->n]),
                  "%s: field %d is not valid UTF-8: \"%s\"", table, r->n + 1, r->text[r->n]);
        }
        r->n++;
        if (i == len)
            break;
        i++; /* the tab */
    }
}

/* Reads row *pos of a buffer into r; returns 0, or -1 at the end. */
static int next_row(const batch_buf_t *buf, size_t *pos, const char *table, row_t *r)
{
    const char *start, *nl;

    if (*pos >= buf->buf.len)
        return -1;
    start = buf->buf.data + *pos;
    nl = memchr(start, '\n', buf->buf.len - *pos);
    CHECK(nl != NULL, "%s: last row does not end with a newline", table);
    parse_row(start, (size_t)(nl - start), table, r);
    *pos = (size_t)(nl - buf->buf.data) + 1;
    return 0;
}

/* Buffer-level checks of table t; returns its row count. */
static size_t check_table(const batch_t *b, batch_table_t t)
{
    const batch_buf_t *buf = &b->tables[t];
    const char *name = batch_table_names[t];
    size_t pos = 0, rows = 0;
    row_t r;

    CHECK(!buf->buf.oom, "%s: out of memory", name);
    CHECK(buf->buf.len == 0 || memchr(buf->buf.data, '\0', buf->buf.len) == NULL, "%s: raw NUL byte",
          name);
    while (next_row(buf, &pos, name, &r) == 0) {
        CHECK(r.n == column_count(t), "%s: row %zu has %d fields, not %d", name, rows + 1,
              r.n, column_count(t));
        free(r.store);
        rows++;
    }
    CHECK(rows == buf->rows, "%s: %zu rows in the text, %zu counted", name, rows, buf->rows);
    return rows;
}

static void expect_text(const row_t *r, int i, const char *want, const char *table)
{
    if (want == NULL)
        CHECK(r->text[i] == NULL, "%s: field %d is \"%s\", not \\N", table, i + 1, r->text[i]);
    else
        CHECK(r->text[i] != NULL && strcmp(r->text[i], want) == 0,
              "%s: field %d is \"%s\", not \"%s\"", table, i + 1,
              r->text[i] ? r->text[i] : "\\N", want);
}

static void expect_int(const row_t *r, int i, int64_t want, const char *table)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)want);
    expect_text(r, i, num, table);
}

/* An integer field in [min, max]; returns it. */
static int64_t need_int(const row_t *r, int i, int64_t min, int64_t max, const char *table)
{
    char *end = NULL;
    long long v;

    CHECK(r->text[i] != NULL && r->len[i] > 0, "%s: field %d is empty or \\N", table, i + 1);
    v = strtoll(r->text[i], &end, 10);
    CHECK(*end == '\0' && v >= min && v <= max, "%s: field %d \"%s\" is not an integer in [%lld, %lld]",
          table, i + 1, r->text[i], (long long)min, (long long)max);
    return v;
}

/* An amount "D.CC" in [0, max_cents]. */
static void need_money(const row_t *r, int i, int64_t max_cents, const char *table)
{
    const char *s = r->text[i], *dot;
    int64_t units;

    CHECK(s != NULL && (dot = strchr(s, '.')) != NULL && dot > s && strlen(dot) == 3 &&
              dot[1] >= '0' && dot[1] <= '9' && dot[2] >= '0' && dot[2] <= '9' &&
              strspn(s, "0123456789") == (size_t)(dot - s) && dot - s <= 12,
          "%s: field %d \"%s\" is not an amount", table, i + 1, s ? s : "\\N");
    units = strtoll(s, NULL, 10);
    CHECK(units * 100 + (dot[1] - '0') * 10 + (dot[2] - '0') <= max_cents,
          "%s: field %d \"%s\" is over %lld cents", table, i + 1, s, (long long)max_cents);
}

static void need_uuid(const row_t *r, int i, const char *table)
{
    CHECK(r->text[i] != NULL && schema_is_uuid(r->text[i]), "%s: field %d \"%s\" is not a uuid",
          table, i + 1, r->text[i] ? r->text[i] : "\\N");
}

/* An event time the schema accepted: RFC 3339, from 2000 to a day ahead. */
static void need_time(const row_t *r, int i, const char *table)
{
    int64_t ms = 0;

    CHECK(r->text[i] != NULL && r->len[i] == TS_RFC3339_LEN - 1 &&
              ts_parse_rfc3339(r->text[i], &ms) == 0 && ms >= MIN_EVENT_MS &&
              ms <= NOW_MS + MAX_FUTURE_MS,
          "%s: field %d \"%s\" is not an accepted event time", table, i + 1,
          r->text[i] ? r->text[i] : "\\N");
}

/* Undoes rows.c's escape_bytes ("\\" and "\xNN", printable ASCII as is);
 * returns the byte count, or -1 if the text is not in that form. */
static long unescape_bytes(const char *s, size_t len, unsigned char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        static const char hex[] = "0123456789abcdef";
        unsigned char c = (unsigned char)s[i];
        const char *hi, *lo;

        if (c < 0x20 || c >= 0x7f)
            return -1;
        if (c != '\\') {
            out[o++] = c;
        } else if (i + 1 < len && s[i + 1] == '\\') {
            out[o++] = '\\';
            i++;
        } else if (i + 3 < len && s[i + 1] == 'x' && s[i + 2] && s[i + 3] &&
                   (hi = strchr(hex, s[i + 2])) != NULL && (lo = strchr(hex, s[i + 3])) != NULL) {
            out[o++] = (unsigned char)((hi - hex) << 4 | (lo - hex));
            i += 3;
        } else {
            return -1;
        }
    }
    return (long)o;
}

/* The field holds exactly bytes (as text when UTF-8, else escaped). */
static void expect_bytes(const row_t *r, int i, const void *bytes, size_t len, const char *table)
{
    unsigned char *raw;
    long n;

    if (bytes == NULL) {
        expect_text(r, i, NULL, table);
        return;
    }
    CHECK(r->text[i] != NULL, "%s: field %d is \\N for %zu bytes", table, i + 1, len);
    if (utf8_is_text(bytes, len)) {
        CHECK(r->len[i] == len && memcmp(r->text[i], bytes, len) == 0,
              "%s: field %d does not give back the text", table, i + 1);
        return;
    }
    raw = malloc(r->len[i] + 1);
    if (raw == NULL)
        abort();
    n = unescape_bytes(r->text[i], r->len[i], raw);
    CHECK(n == (long)len && memcmp(raw, bytes, len) == 0,
          "%s: field %d \"%s\" does not give back the %zu bytes", table, i + 1, r->text[i], len);
    free(raw);
}

/* How rows.c stores a byte string: "null", "utf8" or "escape". */
static const char *encoding_of(const void *bytes, size_t len)
{
    if (bytes == NULL)
        return "null";
    return utf8_is_text(bytes, len) ? "utf8" : "escape";
}

/* How many payload bytes a dead letter must hold (rows.h): all of them,
 * except for a message over the size limit and longer than
 * ROWS_DEAD_LETTER_PREFIX. Then, when the prefix cut back to a character
 * boundary (up to three continuation bytes dropped) is text, that cut
 * prefix (stored as text); else the prefix bytes (escaped). */
static size_t expected_kept(const rows_msg_t *m, size_t max_bytes)
{
    const unsigned char *p = m->payload;
    size_t cut = ROWS_DEAD_LETTER_PREFIX;

    if (p == NULL || m->len <= max_bytes || m->len <= ROWS_DEAD_LETTER_PREFIX)
        return m->len;
    for (int k = 0; k < 3 && (p[cut] & 0xc0) == 0x80; k++)
        cut--;
    return utf8_is_text(p, cut) ? cut : ROWS_DEAD_LETTER_PREFIX;
}

static void check_dead_letter(const batch_t *b, const rows_msg_t *m, size_t max_bytes,
                              const char *reason)
{
    const char *name = batch_table_names[BATCH_DEAD_LETTERS];
    size_t pos = 0, kept;
    row_t r;

    CHECK(reason[0] != '\0', "dead letter without a reason");
    next_row(&b->tables[BATCH_DEAD_LETTERS], &pos, name, &r);
    expect_text(&r, 0, GROUP, name);
    expect_text(&r, 1, m->topic, name);
    expect_int(&r, 2, m->partition, name);
    expect_int(&r, 3, m->offset, name);
    expect_bytes(&r, 4, m->key, m->key_len, name);
    expect_text(&r, 5, encoding_of(m->key, m->key_len), name);
    kept = expected_kept(m, max_bytes);
    expect_bytes(&r, 6, m->payload, kept, name);
    expect_text(&r, 7, encoding_of(m->payload, kept), name);
    expect_int(&r, 8, (int64_t)m->len, name);
    expect_text(&r, 9, kept < m->len ? "t" : "f", name);
    expect_text(&r, 10, reason, name);
    free(r.store);
}

static void check_user_event(const batch_t *b, const rows_msg_t *m)
{
    const char *name = batch_table_names[BATCH_USER_EVENTS];
    size_t pos = 0;
    row_t r;

    next_row(&b->tables[BATCH_USER_EVENTS], &pos, name, &r);
    need_uuid(&r, 0, name);
    need_time(&r, 3, name);
    if (r.text[7] != NULL)
        need_money(&r, 7, SCHEMA_MAX_PRICE_CENTS, name);
    expect_int(&r, 12, m->partition, name);
    expect_int(&r, 13, m->offset, name);
    free(r.store);
}

static void check_transaction(const batch_t *b, const rows_msg_t *m, size_t items)
{
    const char *name = batch_table_names[BATCH_TRANSACTIONS];
    const char *items_name = batch_table_names[BATCH_TRANSACTION_ITEMS];
    size_t pos = 0;
    row_t r, it;

    next_row(&b->tables[BATCH_TRANSACTIONS], &pos, name, &r);
    need_uuid(&r, 0, name);
    need_time(&r, 2, name);
    for (int i = 4; i <= 6; i++)
        need_money(&r, i, SCHEMA_MAX_AMOUNT_CENTS, name);
    if (r.text[7] != NULL) {
        json_t *address = json_loads(r.text[7], JSON_REJECT_DUPLICATES, NULL);
        CHECK(json_is_object(address), "%s: shipping_address \"%s\" is not a JSON object", name,
              r.text[7]);
        json_decref(address);
    }
    CHECK(need_int(&r, 8, 1, SCHEMA_MAX_ITEMS, name) == (int64_t)items,
          "%s: item_count \"%s\" but %zu item rows", name, r.text[8], items);
    CHECK(r.text[9] != NULL && (strcmp(r.text[9], "t") == 0 || strcmp(r.text[9], "f") == 0),
          "%s: totals_match is not t or f", name);
    expect_int(&r, 10, m->partition, name);
    expect_int(&r, 11, m->offset, name);

    pos = 0;
    for (size_t i = 0; next_row(&b->tables[BATCH_TRANSACTION_ITEMS], &pos, items_name, &it) == 0; i++) {
        expect_text(&it, 0, r.text[0], items_name);
        expect_int(&it, 1, (int64_t)i + 1, items_name);
        expect_text(&it, 2, r.text[2], items_name);
        need_money(&it, 5, SCHEMA_MAX_PRICE_CENTS, items_name);
        need_int(&it, 6, 1, SCHEMA_MAX_QUANTITY, items_name);
        need_money(&it, 7, SCHEMA_MAX_AMOUNT_CENTS, items_name);
        free(it.store);
    }
    free(r.store);
}

static void check_inventory(const batch_t *b, const rows_msg_t *m)
{
    const char *name = batch_table_names[BATCH_INVENTORY_UPDATES];
    size_t pos = 0;
    row_t r;

    next_row(&b->tables[BATCH_INVENTORY_UPDATES], &pos, name, &r);
    need_uuid(&r, 0, name);
    need_int(&r, 3, INT32_MIN, INT32_MAX, name);
    need_int(&r, 4, 0, INT32_MAX, name);
    need_time(&r, 6, name);
    expect_int(&r, 7, m->partition, name);
    expect_int(&r, 8, m->offset, name);
    free(r.store);
}

/* The batch holds exactly what rows_add_message said it stored. */
static void check_batch(const batch_t *b, const rows_msg_t *m, size_t max_bytes, int topic,
                        int rc, const char *reason)
{
    size_t rows[BATCH_TABLES];

    CHECK(rc == 0 || rc == 1, "rows_add_message returned %d", rc);
    for (int t = 0; t < BATCH_TABLES; t++)
        rows[t] = check_table(b, (batch_table_t)t);
    CHECK(rows[BATCH_GAPS] == 0, "a message added a gap row");
    if (rc == 0) {
        for (int t = 0; t < BATCH_TABLES; t++)
            CHECK(rows[t] == (t == BATCH_DEAD_LETTERS), "dead letter: %zu rows in %s", rows[t],
                  batch_table_names[t]);
        check_dead_letter(b, m, max_bytes, reason);
        return;
    }
    CHECK(topic < 3 && m->payload != NULL, "stored a message without a schema or a value");
    for (int t = 0; t < BATCH_TABLES; t++)
        if (t != BATCH_TRANSACTION_ITEMS)
            CHECK(rows[t] == (t == batch_topic_table((schema_topic_t)topic)),
                  "valid %s: %zu rows in %s", m->topic,
                  rows[t], batch_table_names[t]);
    CHECK((rows[BATCH_TRANSACTION_ITEMS] > 0) == (topic == 1), "valid %s: %zu item rows",
          m->topic, rows[BATCH_TRANSACTION_ITEMS]);
    if (topic == 0)
        check_user_event(b, m);
    else if (topic == 1)
        check_transaction(b, m, rows[BATCH_TRANSACTION_ITEMS]);
    else
        check_inventory(b, m);
}

static int64_t clamp_ms(int64_t ms)
{
    return ms < TS_MIN_MS ? TS_MIN_MS : ms > TS_MAX_MS ? TS_MAX_MS : ms;
}

/* Side check of ts.c: parse -> format -> parse keeps the milliseconds. */
static void check_timestamp(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char stamp[TS_RFC3339_LEN];
    int64_t ms = 0, again = 0, raw = 0;

    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    if (ts_parse_rfc3339(text, &ms) == 0) {
        ts_format_rfc3339(ms, stamp);
        CHECK(ts_parse_rfc3339(stamp, &again) == 0 && again == clamp_ms(ms),
              "ts: \"%s\" is %lld ms, formatted \"%s\", parsed back %lld", text, (long long)ms,
              stamp, (long long)again);
    }
    memcpy(&raw, data, size < sizeof(raw) ? size : sizeof(raw));
    ts_format_rfc3339(raw, stamp);
    CHECK(strlen(stamp) == TS_RFC3339_LEN - 1 && ts_parse_rfc3339(stamp, &again) == 0 &&
              again == clamp_ms(raw),
          "ts: %lld ms formatted \"%s\", parsed back %lld", (long long)raw, stamp,
          (long long)again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int topic = size > 0 ? data[0] % 4 : 0;
    unsigned var = size > 1 ? data[1] : 0;
    size_t head = size < 2 ? size : 2;
    rows_conf_t conf = {GROUP, var & 8 ? SMALL_LIMIT : SCHEMA_MAX_MESSAGE_BYTES};
    rows_msg_t m = {topics[topic], (int32_t)(var >> 4) - 1, (int64_t)size,
                    NULL, 0, data + head, size - head, NULL, NULL};
    char reason[256] = "";
    batch_t b;
    int rc;

    if ((var >> 4) == 15)
        m.offset = INT64_MAX;
    switch (var & 3) {
    case 1: m.key = "K1", m.key_len = 2; break;
    case 2: m.key = not_utf8_key, m.key_len = sizeof(not_utf8_key) - 1; break;
    case 3: m.key = m.payload, m.key_len = m.len < 16 ? m.len : 16; break;
    }
    if (var & 4)
        m.payload = NULL, m.len = 0;

    batch_init(&b);
    rc = rows_add_message(&b, &conf, &m, NOW_MS, reason, sizeof(reason));
    check_batch(&b, &m, conf.max_bytes, topic, rc, reason);
    batch_free(&b);

    check_timestamp(data + head, size - head);
    return 0;
}
