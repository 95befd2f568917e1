/*
 * test_sink.c - stream/sink.c and the stream tables of sql/init.sql against a
 * real PostgreSQL (never a mock): the schema and its partitions, writing a
 * batch exactly once, dedup of resent events, the offset fence (also racing
 * another writer, and telling a lost commit from another instance), rows
 * PostgreSQL rejects (a value it cannot store, CHECKs the test adds on each
 * raw table, the first and the last message of a batch, every message,
 * among duplicates: dead-lettered with PostgreSQL's error, the rest
 * committed; errors that are not about a row still retried), the default
 * partition and moving its rows, re-applying
 * init.sql (also to add dead_letter_events' newer columns), concurrent
 * partition creation, losing the server mid-session, the deadlines of
 * common/db.c (defaults, and overrides through the connection string and
 * PG* variables) and its array literals.
 *
 * The server comes from the PG* environment; without PGHOST and PGDATABASE,
 * or when no connection can be made, the program exits 77 (skipped).
 * tests/integration/test_sink_pg.sh runs it on a throwaway cluster and sets:
 *   ECOM_INIT_SQL  sql/init.sql, for the re-apply case (skipped without it)
 *   ECOM_PG_LOCAL  scripts/pg-local.sh, for the server restart case (ditto)
 * Every run uses its own consumer group, user id and product id, and deletes
 * its rows at the end, so it does not disturb other data in the database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "db.h"
#include "pg_query.h"
#include "rows.h"
#include "elog.h"
#include "reject.h"
#include "schema.h"
#include "sink.h"
#include "ts.h"

#define DAY_MS (86400LL * 1000)

static PGconn *admin;  /* the test's own connection for checks */
static char group[64]; /* consumer group of this run */
static char user[64];  /* user_id of every row of this run */
static char product[64];

/* ---- helpers ---------------------------------------------------------- */

static void ts_text(int64_t ms, char out[TS_RFC3339_LEN])
{
    ts_format_rfc3339(ms, out);
}

static void q_exec(const char *sql)
{
    PGresult *res = PQexec(admin, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("statement failed: %s\nstatement: %s", PQerrorMessage(admin), sql);
    PQclear(res);
}

static long long stored_offset(const char *topic, int partition)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", partition);
    return pgq_int(admin, "SELECT next_offset FROM stream_offsets WHERE consumer_group = $1"
                 " AND topic = $2 AND kafka_partition = $3",
                 3, group, topic, p);
}

static long long count_by_id(const char *table, const char *id_col, const char *id)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s = $1", table, id_col);
    return pgq_int(admin, sql, 1, id);
}

static sink_t *connected_sink(void)
{
    sink_t *s = sink_new(NULL, group, "test_sink");

    assert_non_null(s);
    assert_int_equal(sink_connect(s, 5000), 0);
    assert_true(sink_connected(s));
    return s;
}

/* The partition name of a table for the UTC day of epoch_ms. */
static void part_name(char *out, size_t size, const char *table, int64_t epoch_ms)
{
    char day[TS_RFC3339_LEN];
    ts_text(epoch_ms, day);
    snprintf(out, size, "%s_p%.4s%.2s%.2s", table, day, day + 5, day + 8);
}

static int day_has_partition(int64_t epoch_ms)
{
    static const char *const tables[] = {"user_events", "transactions", "transaction_items",
                                         "inventory_updates"};
    char name[96];

    for (int i = 0; i < 4; i++) {
        part_name(name, sizeof(name), tables[i], epoch_ms);
        if (pgq_int(admin, "SELECT count(*) FROM pg_class WHERE relname = $1", 1, name) > 0)
            return 1;
    }
    return 0;
}

/* Drops the daily partitions of the UTC day of epoch_ms (cleanup). */
static void drop_day(int64_t epoch_ms)
{
    static const char *const tables[] = {"user_events", "transactions", "transaction_items",
                                         "inventory_updates"};
    char name[96], sql[160];

    for (int i = 0; i < 4; i++) {
        part_name(name, sizeof(name), tables[i], epoch_ms);
        snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", name);
        q_exec(sql);
    }
}

/* "YYYY-MM-DD" of epoch_ms (UTC). */
static void day_text(char out[11], int64_t epoch_ms)
{
    char t[TS_RFC3339_LEN];
    ts_text(epoch_ms, t);
    snprintf(out, 11, "%.10s", t);
}

/* ---- rows, in the column order of BATCH_COLS_* ---------------------- */

/* The payload a test message "had" in Kafka (kept for its dead letter). */
static void test_payload(char *out, size_t size, const char *id, int64_t off)
{
    snprintf(out, size, "{\"test_id\":\"%s\",\"offset\":%lld}", id, (long long)off);
}

/* Records a valid message, as rows.c does before appending its rows. */
static void note(batch_t *b, int topic, const char *id, int32_t part, int64_t off)
{
    char payload[128];

    test_payload(payload, sizeof(payload), id, off);
    assert_int_equal(batch_note_message(b, topic, part, off, user, strlen(user), payload,
                                        strlen(payload)),
                     0);
}

static void add_user_event(batch_t *b, const char *id, const char *when, int32_t part,
                           int64_t off, const char *agent)
{
    batch_buf_t *t = &b->tables[BATCH_USER_EVENTS];

    note(b, SCHEMA_USER_EVENTS, id, part, off);

    batch_field(t, 1, id);
    batch_field(t, 0, user);
    batch_field(t, 0, "product_view");
    batch_field(t, 0, when);
    batch_field(t, 0, product);
    batch_field(t, 0, "iPhone 15 Pro");
    batch_field(t, 0, "Electronics");
    batch_field_cents(t, 0, 99999);
    batch_field(t, 0, NULL);
    batch_field(t, 0, "session_1234");
    batch_field(t, 0, "192.168.1.100");
    batch_field(t, 0, agent);
    batch_field_int(t, 0, part);
    batch_field_int(t, 0, off);
    batch_field(t, 0, "f"); /* late */
    batch_end_row(t);
}

/* A transaction with `items` lines of 2 x 10.00 each; line named_line
 * (1-based; 0: none) gets the product name `name`. */
static void add_transaction_named(batch_t *b, const char *id, const char *when, int items,
                                  int32_t part, int64_t off, int named_line, const char *name)
{
    batch_buf_t *t = &b->tables[BATCH_TRANSACTIONS];
    batch_buf_t *it = &b->tables[BATCH_TRANSACTION_ITEMS];

    note(b, SCHEMA_TRANSACTIONS, id, part, off);

    batch_field(t, 1, id);
    batch_field(t, 0, user);
    batch_field(t, 0, when);
    batch_field(t, 0, "credit_card");
    batch_field_cents(t, 0, items * 2000 + 160 + 599);
    batch_field_cents(t, 0, 160);
    batch_field_cents(t, 0, 599);
    batch_field(t, 0, "{\"street\": \"1 Main St\", \"city\": \"New York\"}");
    batch_field_int(t, 0, items);
    batch_field(t, 0, "t");
    batch_field_int(t, 0, part);
    batch_field_int(t, 0, off);
    batch_field(t, 0, "f"); /* late */
    batch_end_row(t);
    for (int i = 1; i <= items; i++) {
        batch_field(it, 1, id);
        batch_field_int(it, 0, i);
        batch_field(it, 0, when);
        batch_field(it, 0, product);
        batch_field(it, 0, i == named_line ? name : "Levi's 501 Original Jeans");
        batch_field_cents(it, 0, 1000);
        batch_field_int(it, 0, 2);
        batch_field_cents(it, 0, 2000);
        batch_end_row(it);
    }
}

static void add_transaction(batch_t *b, const char *id, const char *when, int items,
                            int32_t part, int64_t off)
{
    add_transaction_named(b, id, when, items, part, off, 0, NULL);
}

/* An inventory update whose stock_change column gets the text change, in
 * warehouse `where`. */
static void add_inventory_change(batch_t *b, const char *id, const char *when, int32_t part,
                                 int64_t off, const char *change, const char *where)
{
    batch_buf_t *t = &b->tables[BATCH_INVENTORY_UPDATES];

    note(b, SCHEMA_INVENTORY, id, part, off);
    batch_field(t, 1, id);
    batch_field(t, 0, product);
    batch_field(t, 0, "iPhone 15 Pro");
    batch_field(t, 0, change);
    batch_field_int(t, 0, 245);
    batch_field(t, 0, where);
    batch_field(t, 0, when);
    batch_field_int(t, 0, part);
    batch_field_int(t, 0, off);
    batch_field(t, 0, "f"); /* late */
    batch_end_row(t);
}

static void add_inventory(batch_t *b, const char *id, const char *when, int32_t part,
                          int64_t off)
{
    add_inventory_change(b, id, when, part, off, "-5", "NYC");
}

static void add_dead_letter(batch_t *b, const char *topic, int32_t part, int64_t off,
                            const char *payload)
{
    batch_buf_t *t = &b->tables[BATCH_DEAD_LETTERS];

    batch_field(t, 1, group);
    batch_field(t, 0, topic);
    batch_field_int(t, 0, part);
    batch_field_int(t, 0, off);
    batch_field(t, 0, user);
    batch_field(t, 0, "utf8");
    batch_field(t, 0, payload);
    batch_field(t, 0, "utf8");
    batch_field_int(t, 0, (int64_t)strlen(payload));
    batch_field(t, 0, "f");
    batch_field(t, 0, "missing field \"event_id\"");
    batch_end_row(t);
}

static void now_text(char out[TS_RFC3339_LEN]) { ts_text(ts_now_ms(), out); }

/* ---- cases ------------------------------------------------------------ */

static void test_api_edges(void **state)
{
    sink_t *s;
    batch_t b;
    sink_result_t res;
    int64_t next = 0;

    (void)state;
    sink_destroy(NULL);
    assert_null(sink_new(NULL, NULL, "x"));
    s = sink_new(NULL, group, NULL);
    assert_non_null(s);
    assert_false(sink_connected(s));
    assert_null(sink_conn(s));
    batch_init(&b);
    assert_int_equal(sink_flush(s, &b, &res), SINK_RETRY);
    assert_int_equal(sink_load_offset(s, "user-events", 0, &next, NULL, 0, NULL), -1);
    assert_int_equal(sink_ensure_partitions(s, 3), -1);
    batch_free(&b);
    sink_destroy(s);
}

static void test_schema(void **state)
{
    static const char *const parents[] = {"user_events", "transactions", "transaction_items",
                                          "inventory_updates"};
    static const char *const stages[][2] = {
        {"stage_user_events", BATCH_COLS_USER_EVENTS},
        {"stage_transactions", BATCH_COLS_TRANSACTIONS},
        {"stage_transaction_items", BATCH_COLS_TRANSACTION_ITEMS},
        {"stage_inventory_updates", BATCH_COLS_INVENTORY_UPDATES},
    };
    sink_t *s = connected_sink();
    int64_t now = ts_now_ms();
    char name[96], def[96], cols[512];

    (void)state;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pgq_int(admin, "SELECT count(*) FROM pg_class WHERE relname = $1 AND relkind = 'p'",
                               1, parents[i]),
                         1);
        snprintf(def, sizeof(def), "%s_default", parents[i]);
        assert_int_equal(pgq_int(admin, "SELECT count(*) FROM pg_partitioned_table"
                               " WHERE partrelid = $1::regclass AND partdefid = $2::regclass",
                               2, parents[i], def),
                         1);
        for (int d = -1; d <= 3; d++) {
            part_name(name, sizeof(name), parents[i], now + d * DAY_MS);
            assert_int_equal(pgq_int(admin, "SELECT count(*) FROM pg_inherits"
                                   " WHERE inhrelid = to_regclass($1) AND inhparent = $2::regclass",
                                   2, name, parents[i]),
                             1);
        }
    }
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname IN"
                           " ('dead_letter_events', 'stream_offsets', 'stream_gaps')",
                           0),
                     3);
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM pg_proc WHERE proname = 'ecom_ensure_daily_partitions'", 0), 1);
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM pg_indexes WHERE tablename = 'user_events'"
                           " AND indexname IN ('user_events_event_time_idx', 'user_events_user_id_idx',"
                           " 'user_events_product_id_idx')",
                           0),
                     3);
    /* An event of now lands in today's partition. */
    part_name(name, sizeof(name), "user_events", now);
    q_exec("BEGIN");
    pgq_text(admin, def, sizeof(def), "INSERT INTO user_events (event_id, event_time)"
                             " VALUES (gen_random_uuid(), now()) RETURNING tableoid::regclass::text", 0);
    q_exec("ROLLBACK");
    assert_string_equal(def, name);
    /* The staging tables of the sink's session have exactly the COPY columns. */
    for (int i = 0; i < 4; i++) {
        const char *params[1] = {stages[i][0]};
        PGresult *res = PQexecParams(sink_conn(s),
                                     "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute"
                                     " WHERE attrelid = ('pg_temp.' || $1)::regclass AND attnum > 0 AND NOT attisdropped",
                                     1, NULL, params, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        snprintf(cols, sizeof(cols), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        assert_string_equal(cols, stages[i][1]);
    }
    sink_destroy(s);
}

static void test_flush_all_and_resend(void **state)
{
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char ue[37], tx[37], inv[37], when[TS_RFC3339_LEN], got[256];
    const char *agent = "Mozilla/5.0 \"tab\there\" back\\slash\nnew line \xc3\xa9";
    int64_t next = -7;
    char cluster[64] = "";

    (void)state;
    pgq_uuid(ue);
    pgq_uuid(tx);
    pgq_uuid(inv);
    now_text(when);
    batch_init(&b);
    add_user_event(&b, ue, when, 0, 10, agent);
    add_transaction(&b, tx, when, 2, 1, 5);
    add_inventory(&b, inv, when, 2, 3);
    add_dead_letter(&b, "user-events", 0, 9, "{\"bad\": true}");
    rows_add_gap(&b, group, "user-events", 0, 7, 8, "retention");
    assert_int_equal(batch_note_offset(&b, "user-events", 0, -1, 11), 0);
    assert_int_equal(batch_note_offset(&b, "transactions", 1, -1, 6), 0);
    assert_int_equal(batch_note_offset(&b, "inventory-updates", 2, -1, 4), 0);

    sink_set_cluster_id(s, "cluster-a");
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.staged[BATCH_USER_EVENTS], 1);
    assert_int_equal(res.staged[BATCH_TRANSACTION_ITEMS], 2);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 1);
    assert_int_equal(res.inserted[BATCH_TRANSACTIONS], 1);
    assert_int_equal(res.inserted[BATCH_TRANSACTION_ITEMS], 2);
    assert_int_equal(res.inserted[BATCH_INVENTORY_UPDATES], 1);
    assert_int_equal(res.inserted[BATCH_DEAD_LETTERS], 1);
    assert_int_equal(res.inserted[BATCH_GAPS], 1);
    assert_true(res.seconds > 0 && res.seconds < 60);

    assert_int_equal(count_by_id("user_events", "event_id", ue), 1);
    assert_int_equal(count_by_id("transactions", "transaction_id", tx), 1);
    assert_int_equal(count_by_id("transaction_items", "transaction_id", tx), 2);
    assert_int_equal(count_by_id("inventory_updates", "event_id", inv), 1);
    assert_int_equal(count_by_id("dead_letter_events", "consumer_group", group), 1);
    assert_int_equal(count_by_id("stream_gaps", "consumer_group", group), 1);
    assert_int_equal(stored_offset("user-events", 0), 11);
    assert_int_equal(stored_offset("transactions", 1), 6);
    assert_int_equal(stored_offset("inventory-updates", 2), 4);
    assert_int_equal(sink_load_offset(s, "user-events", 0, &next, cluster, sizeof(cluster), NULL), 1);
    assert_int_equal(next, 11);
    assert_string_equal(cluster, "cluster-a");
    assert_int_equal(sink_load_offset(s, "user-events", 99, &next, NULL, 0, NULL), 0);

    /* Values survive COPY escaping and typing. */
    pgq_text(admin, got, sizeof(got), "SELECT user_agent FROM user_events WHERE event_id = $1", 1, ue);
    assert_string_equal(got, agent);
    pgq_text(admin, got, sizeof(got), "SELECT price::text || ' ' || kafka_partition || ' ' || kafka_offset"
                             " || ' ' || (search_query IS NULL) FROM user_events WHERE event_id = $1",
           1, ue);
    assert_string_equal(got, "999.99 0 10 true");
    pgq_text(admin, got, sizeof(got), "SELECT total_amount::text || ' ' || totals_match || ' ' || (shipping_address->>'city')"
                             " FROM transactions WHERE transaction_id = $1",
           1, tx);
    assert_string_equal(got, "47.59 true New York");
    pgq_text(admin, got, sizeof(got), "SELECT string_agg(line_no || ':' || quantity || 'x' || price || '=' || item_total, ',' ORDER BY line_no)"
                             " FROM transaction_items WHERE transaction_id = $1",
           1, tx);
    assert_string_equal(got, "1:2x10.00=20.00,2:2x10.00=20.00");
    pgq_text(admin, got, sizeof(got), "SELECT payload || ' ' || payload_encoding || ' ' || kafka_offset"
                             " || ' ' || payload_bytes || ' ' || payload_truncated"
                             " FROM dead_letter_events WHERE consumer_group = $1",
           1, group);
    assert_string_equal(got, "{\"bad\": true} utf8 9 13 false");
    pgq_text(admin, got, sizeof(got), "SELECT first_missing_offset || '-' || last_missing_offset || ' ' || kind"
                             " FROM stream_gaps WHERE consumer_group = $1",
           1, group);
    assert_string_equal(got, "7-8 retention");

    /* A resend of the same events (new offsets): nothing new is stored, the
     * offsets still advance. */
    batch_reset(&b);
    add_user_event(&b, ue, when, 0, 11, agent);
    add_transaction(&b, tx, when, 2, 1, 6);
    add_inventory(&b, inv, when, 2, 4);
    batch_note_offset(&b, "user-events", 0, 11, 12);
    batch_note_offset(&b, "transactions", 1, 6, 7);
    batch_note_offset(&b, "inventory-updates", 2, 4, 5);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.staged[BATCH_USER_EVENTS], 1);
    assert_int_equal(res.staged[BATCH_TRANSACTIONS], 1);
    for (int t = 0; t < BATCH_TABLES; t++)
        assert_int_equal(res.inserted[t], 0);
    assert_int_equal(count_by_id("user_events", "event_id", ue), 1);
    assert_int_equal(count_by_id("transactions", "transaction_id", tx), 1);
    assert_int_equal(count_by_id("transaction_items", "transaction_id", tx), 2);
    assert_int_equal(count_by_id("inventory_updates", "event_id", inv), 1);
    assert_int_equal(stored_offset("user-events", 0), 12);
    assert_int_equal(stored_offset("transactions", 1), 7);
    assert_int_equal(stored_offset("inventory-updates", 2), 5);
    pgq_text(admin, got, sizeof(got), "SELECT kafka_offset FROM user_events WHERE event_id = $1", 1, ue);
    assert_string_equal(got, "10"); /* the first copy is kept */

    batch_free(&b);
    sink_destroy(s);
}

static void test_same_transaction_twice(void **state)
{
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char tx[37], when[TS_RFC3339_LEN];

    (void)state;
    pgq_uuid(tx);
    now_text(when);
    batch_init(&b);
    add_transaction(&b, tx, when, 2, 3, 100);
    add_transaction(&b, tx, when, 2, 3, 101);
    batch_note_offset(&b, "transactions", 3, -1, 102);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.staged[BATCH_TRANSACTIONS], 2);
    assert_int_equal(res.staged[BATCH_TRANSACTION_ITEMS], 4);
    assert_int_equal(res.inserted[BATCH_TRANSACTIONS], 1);
    assert_int_equal(res.inserted[BATCH_TRANSACTION_ITEMS], 2);
    assert_int_equal(count_by_id("transactions", "transaction_id", tx), 1);
    assert_int_equal(count_by_id("transaction_items", "transaction_id", tx), 2);
    assert_int_equal(stored_offset("transactions", 3), 102);
    batch_free(&b);
    sink_destroy(s);
}

static void test_fenced(void **state)
{
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char ue[37], ue2[37], when[TS_RFC3339_LEN];

    (void)state;
    now_text(when);
    batch_init(&b);
    pgq_uuid(ue);
    add_user_event(&b, ue, when, 4, 4, "ua");
    batch_note_offset(&b, "user-events", 4, -1, 5);
    batch_note_offset(&b, "user-events", 5, -1, 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(stored_offset("user-events", 4), 5);

    /* Stale committed_next (3, PostgreSQL holds 5): nothing is written. */
    batch_reset(&b);
    pgq_uuid(ue2);
    add_user_event(&b, ue2, when, 4, 3, "ua");
    add_dead_letter(&b, "user-events", 4, 4, "x");
    batch_note_offset(&b, "user-events", 4, 3, 5);
    assert_int_equal(sink_flush(s, &b, &res), SINK_FENCED);
    assert_true(sink_connected(s));
    assert_int_equal(count_by_id("user_events", "event_id", ue2), 0);
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM dead_letter_events WHERE consumer_group = $1"
                           " AND kafka_partition = 4",
                           1, group),
                     0);
    assert_int_equal(stored_offset("user-events", 4), 5);

    /* One good partition and one stale one: neither moves. */
    batch_reset(&b);
    add_user_event(&b, ue2, when, 4, 5, "ua");
    batch_note_offset(&b, "user-events", 4, 5, 6);
    batch_note_offset(&b, "user-events", 5, 0, 2);
    assert_int_equal(sink_flush(s, &b, &res), SINK_FENCED);
    assert_int_equal(stored_offset("user-events", 4), 5);
    assert_int_equal(stored_offset("user-events", 5), 1);
    assert_int_equal(count_by_id("user_events", "event_id", ue2), 0);

    /* committed_next -1 although a row exists. */
    batch_reset(&b);
    add_user_event(&b, ue2, when, 4, 0, "ua");
    batch_note_offset(&b, "user-events", 4, -1, 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_FENCED);
    assert_int_equal(stored_offset("user-events", 4), 5);
    assert_int_equal(count_by_id("user_events", "event_id", ue2), 0);

    /* The session is still usable: the right committed_next goes through. */
    batch_reset(&b);
    add_user_event(&b, ue2, when, 4, 5, "ua");
    batch_note_offset(&b, "user-events", 4, 5, 6);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(count_by_id("user_events", "event_id", ue2), 1);
    assert_int_equal(stored_offset("user-events", 4), 6);
    batch_free(&b);
    sink_destroy(s);
}

/* The dead letters of this run at (topic, partition), in offset order:
 * "offset|payload_bytes|payload|reason" each, one per line. */
static void dead_letters_at(char *out, size_t size, const char *topic, int partition)
{
    char p[16];

    snprintf(p, sizeof(p), "%d", partition);
    pgq_text(admin, out, size,
           "SELECT coalesce(string_agg(kafka_offset || '|' || payload_bytes || '|' || payload || '|' || kafka_key"
           " || '|' || reason, E'\n' ORDER BY kafka_offset), '') FROM dead_letter_events"
           " WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = $3",
           3, group, topic, p);
}

static long long dead_letter_count(const char *topic, int partition)
{
    char p[16];

    snprintf(p, sizeof(p), "%d", partition);
    return pgq_int(admin, "SELECT count(*) FROM dead_letter_events WHERE consumer_group = $1 AND topic = $2"
                 " AND kafka_partition = $3",
                 3, group, topic, p);
}

/* Adds (or drops) the constraints the rejection cases violate: rows of this
 * run whose user agent, product name or warehouse is "reject-me"; other
 * rows are not affected. */
static void reject_constraints(int add)
{
    q_exec("ALTER TABLE user_events DROP CONSTRAINT IF EXISTS test_reject_agent");
    q_exec("ALTER TABLE transaction_items DROP CONSTRAINT IF EXISTS test_reject_item");
    q_exec("ALTER TABLE inventory_updates DROP CONSTRAINT IF EXISTS test_reject_warehouse");
    if (!add)
        return;
    q_exec("ALTER TABLE user_events ADD CONSTRAINT test_reject_agent"
           " CHECK (user_agent IS DISTINCT FROM 'reject-me')");
    q_exec("ALTER TABLE transaction_items ADD CONSTRAINT test_reject_item"
           " CHECK (product_name IS DISTINCT FROM 'reject-me')");
    q_exec("ALTER TABLE inventory_updates ADD CONSTRAINT test_reject_warehouse"
           " CHECK (warehouse_location IS DISTINCT FROM 'reject-me')");
}

/* A value PostgreSQL cannot store (not a uuid: SQLSTATE 22P02) among good
 * rows: the rejected message is dead-lettered with PostgreSQL's error, the
 * rest commits and the offset moves past both. */
static void test_rejected_row(void **state)
{
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char ue[37], when[TS_RFC3339_LEN], got[2048], payload[128], want[256];

    (void)state;
    now_text(when);
    pgq_uuid(ue);
    batch_init(&b);
    add_user_event(&b, ue, when, 6, 0, "ua");
    add_user_event(&b, "not-a-uuid", when, 6, 1, "ua");
    batch_note_offset(&b, "user-events", 6, -1, 2);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_true(sink_connected(s));
    assert_int_equal(res.rejected[SCHEMA_USER_EVENTS], 1);
    assert_int_equal(res.rejected[SCHEMA_TRANSACTIONS] + res.rejected[SCHEMA_INVENTORY], 0);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 1);
    assert_int_equal(res.staged[BATCH_USER_EVENTS], 1); /* the rejected one is not a duplicate */
    assert_int_equal(res.inserted[BATCH_DEAD_LETTERS], 1);
    assert_int_equal(res.bisect_writes, 2); /* [0] written, then [1] alone */
    assert_int_equal(count_by_id("user_events", "event_id", ue), 1);
    assert_int_equal(stored_offset("user-events", 6), 2);
    dead_letters_at(got, sizeof(got), "user-events", 6);
    test_payload(payload, sizeof(payload), "not-a-uuid", 1);
    snprintf(want, sizeof(want), "1|%zu|%s|%s|rejected by PostgreSQL: invalid input syntax for type uuid: \"not-a-uuid\" (SQLSTATE 22P02",
             strlen(payload), payload, user);
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("dead letter \"%s\", expected it to start with \"%s\"", got, want);

    /* The session is clean for the next batch. */
    batch_reset(&b);
    add_user_event(&b, "not-a-uuid", when, 6, 2, "ua"); /* alone, and rejected again */
    batch_note_offset(&b, "user-events", 6, 2, 3);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.rejected[SCHEMA_USER_EVENTS], 1);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 0);
    assert_int_equal(res.bisect_writes, 1);
    assert_int_equal(stored_offset("user-events", 6), 3);
    assert_int_equal(dead_letter_count("user-events", 6), 2);
    batch_free(&b);
    sink_destroy(s);
}

/* A CHECK on each raw table and a value out of range (22003), violated by
 * the first and the last messages of a batch and by some in between across
 * three topics and partitions, one of them a transaction whose second item
 * alone is bad: every rejected message is dead-lettered whole, with the
 * constraint's name and SQLSTATE in its reason and its payload and key;
 * nothing of it is stored (not even the good item); every other message is
 * stored exactly once, and every offset moves to the end of the batch. */
static void test_rejected_first_last_and_between(void **state)
{
    enum { N = 40 };
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char ids[N][37], when[TS_RFC3339_LEN], got[16384], payload[128], want[512];
    int bad[N] = {0};
    long long want_rows[BATCH_RAW_TABLES] = {0}, want_rejected[SCHEMA_TOPICS] = {0};
    static const char *const topics[] = {"user-events", "transactions", "inventory-updates"};

    (void)state;
    reject_constraints(1);
    now_text(when);
    /* message i: topic i % 3, partition 40 + i % 3, offset i / 3; bad: the
     * first and last (user events, offsets 0 and 13), 21 (a user event,
     * offset 7), 16 (a transaction whose 2nd item is bad, offset 5), 20
     * (an inventory update out of range, offset 6), 29 (an inventory
     * update in a bad warehouse, offset 9) */
    bad[0] = bad[16] = bad[20] = bad[21] = bad[29] = bad[N - 1] = 1;
    batch_init(&b);
    for (int i = 0; i < N; i++) {
        int topic = i % 3;
        int32_t part = 40 + topic;
        int64_t off = i / 3;

        pgq_uuid(ids[i]);
        if (topic == SCHEMA_USER_EVENTS) {
            add_user_event(&b, ids[i], when, part, off, bad[i] ? "reject-me" : "ua");
            want_rows[BATCH_USER_EVENTS] += !bad[i];
        } else if (topic == SCHEMA_TRANSACTIONS) {
            add_transaction_named(&b, ids[i], when, 3, part, off, bad[i] ? 2 : 0, "reject-me");
            want_rows[BATCH_TRANSACTIONS] += !bad[i];
            want_rows[BATCH_TRANSACTION_ITEMS] += bad[i] ? 0 : 3;
        } else {
            add_inventory_change(&b, ids[i], when, part, off, i == 20 ? "99999999999" : "-5",
                                 i == 29 ? "reject-me" : "NYC");
            want_rows[BATCH_INVENTORY_UPDATES] += !bad[i];
        }
        want_rejected[topic] += bad[i];
    }
    for (int t = 0; t < 3; t++)
        batch_note_offset(&b, topics[t], 40 + t, -1, (N - 1 - t) / 3 + 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    for (int t = 0; t < SCHEMA_TOPICS; t++)
        assert_int_equal(res.rejected[t], want_rejected[t]);
    for (int t = 0; t < BATCH_RAW_TABLES; t++) {
        assert_int_equal(res.inserted[t], want_rows[t]);
        assert_int_equal(res.staged[t], want_rows[t]);
    }
    assert_int_equal(res.inserted[BATCH_DEAD_LETTERS], 6);
    /* reject.h's bound: 2 log2(40) + REJECT_PLAN_SINGLES writes per rejected message */
    assert_true(res.bisect_writes >= 6 && res.bisect_writes <= 6 * (2 * 6 + REJECT_PLAN_SINGLES));
    for (int i = 0; i < N; i++) {
        const char *table = i % 3 == 0 ? "user_events" : i % 3 == 1 ? "transactions" : "inventory_updates";
        const char *col = i % 3 == 1 ? "transaction_id" : "event_id";

        if (count_by_id(table, col, ids[i]) != !bad[i])
            fail_msg("message %d (bad %d): %lld rows in %s", i, bad[i], count_by_id(table, col, ids[i]), table);
        if (i % 3 == 1 && count_by_id("transaction_items", "transaction_id", ids[i]) != (bad[i] ? 0 : 3))
            fail_msg("message %d (bad %d): wrong number of items", i, bad[i]);
    }
    for (int t = 0; t < 3; t++)
        assert_int_equal(stored_offset(topics[t], 40 + t), (N - 1 - t) / 3 + 1);
    assert_int_equal(dead_letter_count("user-events", 40), 3);
    dead_letters_at(got, sizeof(got), "user-events", 40);
    test_payload(payload, sizeof(payload), ids[0], 0);
    snprintf(want, sizeof(want), "0|%zu|%s|%s|rejected by PostgreSQL: new row for relation \"user_events_p", strlen(payload), payload, user);
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("dead letters \"%s\", expected them to start with \"%s\"", got, want);
    assert_non_null(strstr(got, "\n7|"));
    assert_non_null(strstr(got, "\n13|"));
    assert_non_null(strstr(got, "violates check constraint \"test_reject_agent\" (SQLSTATE 23514, constraint \"test_reject_agent\", table \"user_events_p"));
    assert_non_null(strstr(got, "; detail: Failing row contains ("));
    assert_int_equal(dead_letter_count("transactions", 41), 1);
    dead_letters_at(got, sizeof(got), "transactions", 41);
    assert_true(strncmp(got, "5|", 2) == 0);
    assert_non_null(strstr(got, ids[16]));
    assert_non_null(strstr(got, "(SQLSTATE 23514, constraint \"test_reject_item\""));
    assert_int_equal(dead_letter_count("inventory-updates", 42), 2);
    dead_letters_at(got, sizeof(got), "inventory-updates", 42);
    assert_true(strncmp(got, "6|", 2) == 0);
    assert_non_null(strstr(got, "out of range for type integer (SQLSTATE 22003"));
    assert_non_null(strstr(got, "\n9|"));
    assert_non_null(strstr(got, "(SQLSTATE 23514, constraint \"test_reject_warehouse\""));
    reject_constraints(0);
    batch_free(&b);
    sink_destroy(s);
}

/* The tries reject.c's plan takes when every one of n messages is bad. */
static long long plan_tries_all_bad(size_t n)
{
    reject_plan_t p;
    size_t lo, hi;

    reject_plan_init(&p, n);
    while (reject_plan_next(&p, &lo, &hi))
        reject_plan_result(&p, 0);
    return (long long)p.tries;
}

/* Every message of the batch rejected: none stored, every one a dead
 * letter, the offsets still move; the writes are those of the plan. */
static void test_rejected_all(void **state)
{
    enum { N = 25 };
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char id[37], when[TS_RFC3339_LEN];

    (void)state;
    reject_constraints(1);
    now_text(when);
    batch_init(&b);
    for (int i = 0; i < N; i++) {
        pgq_uuid(id);
        add_user_event(&b, id, when, 43, 100 + i, "reject-me");
    }
    batch_note_offset(&b, "user-events", 43, -1, 100 + N);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.rejected[SCHEMA_USER_EVENTS], N);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 0);
    assert_int_equal(res.staged[BATCH_USER_EVENTS], 0);
    assert_int_equal(res.inserted[BATCH_DEAD_LETTERS], N);
    assert_int_equal(res.bisect_writes, plan_tries_all_bad(N));
    assert_true(res.bisect_writes < 2 * N - 2);
    assert_int_equal(dead_letter_count("user-events", 43), N);
    assert_int_equal(pgq_int(admin, "SELECT count(DISTINCT kafka_offset) FROM dead_letter_events WHERE consumer_group = $1"
                           " AND kafka_partition = 43 AND reason LIKE '%test_reject_agent%'",
                           1, group),
                     N);
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM user_events WHERE kafka_partition = 43 AND user_id = $1", 1, user), 0);
    assert_int_equal(stored_offset("user-events", 43), 100 + N);
    reject_constraints(0);
    batch_free(&b);
    sink_destroy(s);
}

/* Rejections in a batch that also holds events already stored (the
 * direct COPY meets a stored id, the staging path a rejected row): the
 * stored ones stay duplicates (not counted twice, the first copy kept),
 * the new ones are stored, the bad one is dead-lettered. */
static void test_rejected_with_duplicates(void **state)
{
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char a[37], c[37], d[37], tx[37], when[TS_RFC3339_LEN];

    (void)state;
    reject_constraints(1);
    now_text(when);
    pgq_uuid(a);
    pgq_uuid(c);
    pgq_uuid(d);
    pgq_uuid(tx);
    batch_init(&b);
    add_user_event(&b, a, when, 44, 0, "ua");
    add_transaction(&b, tx, when, 2, 44, 0);
    batch_note_offset(&b, "user-events", 44, -1, 1);
    batch_note_offset(&b, "transactions", 44, -1, 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.bisect_writes, 0);

    batch_reset(&b);
    add_user_event(&b, a, when, 44, 1, "ua");        /* stored already */
    add_user_event(&b, c, when, 44, 2, "reject-me"); /* rejected */
    add_transaction(&b, tx, when, 2, 44, 1);         /* stored already */
    add_user_event(&b, d, when, 44, 3, "ua");        /* new */
    add_user_event(&b, d, when, 44, 4, "ua");        /* and its resend */
    batch_note_offset(&b, "user-events", 44, 1, 5);
    batch_note_offset(&b, "transactions", 44, 1, 2);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.rejected[SCHEMA_USER_EVENTS], 1);
    assert_int_equal(res.staged[BATCH_USER_EVENTS], 3);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 1);
    assert_int_equal(res.staged[BATCH_TRANSACTIONS], 1);
    assert_int_equal(res.inserted[BATCH_TRANSACTIONS], 0);
    assert_int_equal(res.inserted[BATCH_TRANSACTION_ITEMS], 0);
    assert_int_equal(count_by_id("user_events", "event_id", a), 1);
    assert_int_equal(count_by_id("user_events", "event_id", c), 0);
    assert_int_equal(count_by_id("user_events", "event_id", d), 1);
    assert_int_equal(count_by_id("transaction_items", "transaction_id", tx), 2);
    assert_int_equal(pgq_int(admin, "SELECT kafka_offset FROM user_events WHERE event_id = $1", 1, a), 0);
    assert_int_equal(pgq_int(admin, "SELECT kafka_offset FROM user_events WHERE event_id = $1", 1, d), 3);
    assert_int_equal(pgq_int(admin, "SELECT kafka_offset FROM dead_letter_events WHERE consumer_group = $1"
                           " AND kafka_partition = 44",
                           1, group),
                     2);
    assert_int_equal(stored_offset("user-events", 44), 5);
    assert_int_equal(stored_offset("transactions", 44), 2);
    reject_constraints(0);
    batch_free(&b);
    sink_destroy(s);
}

/* Errors that are not about the rows stay SINK_RETRY and write nothing: a
 * trigger that fails rows of this run with a serialization failure (40001),
 * or with a plain RAISE (P0001). No dead letter, no offset; the session
 * stays usable. */
static void test_not_rejected(void **state)
{
    static const char *const codes[] = {"serialization_failure", "raise_exception"};
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char ue[37], when[TS_RFC3339_LEN], sql[512];

    (void)state;
    now_text(when);
    batch_init(&b);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "CREATE OR REPLACE FUNCTION test_sink_refuse() RETURNS trigger LANGUAGE plpgsql AS"
                 " $f$BEGIN IF NEW.user_agent = 'refuse-me' THEN"
                 " RAISE EXCEPTION 'test_sink refuses this row' USING ERRCODE = '%s'; END IF;"
                 " RETURN NEW; END$f$",
                 codes[i]);
        q_exec(sql);
        q_exec("CREATE OR REPLACE TRIGGER test_sink_refuse BEFORE INSERT ON user_events"
               " FOR EACH ROW EXECUTE FUNCTION test_sink_refuse()");
        batch_reset(&b);
        pgq_uuid(ue);
        add_user_event(&b, ue, when, 45, 0, "ua");
        pgq_uuid(ue);
        add_user_event(&b, ue, when, 45, 1, "refuse-me");
        batch_note_offset(&b, "user-events", 45, -1, 2);
        assert_int_equal(sink_flush(s, &b, &res), SINK_RETRY);
        assert_true(sink_connected(s));
        assert_int_equal(res.rejected[SCHEMA_USER_EVENTS], 0);
        assert_int_equal(res.inserted[BATCH_USER_EVENTS], 0);
        assert_int_equal(dead_letter_count("user-events", 45), 0);
        assert_int_equal(stored_offset("user-events", 45), -1);
        assert_int_equal(pgq_int(admin, "SELECT count(*) FROM user_events WHERE kafka_partition = 45 AND user_id = $1", 1, user), 0);
        q_exec("DROP TRIGGER test_sink_refuse ON user_events");
    }
    q_exec("DROP FUNCTION test_sink_refuse()");
    /* A rejected row in a batch without message records cannot be isolated:
     * retried whole, nothing written. */
    batch_reset(&b);
    add_user_event(&b, "not-a-uuid", when, 45, 0, "ua");
    b.msg_count = 0;
    batch_note_offset(&b, "user-events", 45, -1, 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_RETRY);
    assert_int_equal(dead_letter_count("user-events", 45), 0);
    assert_int_equal(stored_offset("user-events", 45), -1);
    /* The session still works. */
    batch_reset(&b);
    pgq_uuid(ue);
    add_user_event(&b, ue, when, 45, 0, "ua");
    batch_note_offset(&b, "user-events", 45, -1, 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(stored_offset("user-events", 45), 1);
    batch_free(&b);
    sink_destroy(s);
}

/* An event three years old goes to the default partition; creating its day's
 * partition later moves it (and a transaction with its items) there. */
static void test_old_event_default_partition(void **state)
{
    sink_t *s = connected_sink();
    batch_t b;
    sink_result_t res;
    char ue[37], tx[37], when[TS_RFC3339_LEN], day[11], got[96], want[96];
    int64_t old = ts_now_ms() - 3 * 365 * DAY_MS;

    (void)state;
    while (day_has_partition(old)) /* a previous run's leftovers */
        old -= DAY_MS;
    ts_text(old, when);
    pgq_uuid(ue);
    pgq_uuid(tx);
    batch_init(&b);
    add_user_event(&b, ue, when, 7, 0, "ua");
    add_transaction(&b, tx, when, 2, 7, 0);
    batch_note_offset(&b, "user-events", 7, -1, 1);
    batch_note_offset(&b, "transactions", 7, -1, 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    pgq_text(admin, got, sizeof(got), "SELECT tableoid::regclass::text FROM user_events WHERE event_id = $1", 1, ue);
    assert_string_equal(got, "user_events_default");
    pgq_text(admin, got, sizeof(got), "SELECT tableoid::regclass::text FROM transactions WHERE transaction_id = $1", 1, tx);
    assert_string_equal(got, "transactions_default");

    day_text(day, old);
    assert_int_equal(pgq_int(admin, "SELECT ecom_ensure_daily_partitions($1, $1)", 1, day), 4);
    part_name(want, sizeof(want), "user_events", old);
    pgq_text(admin, got, sizeof(got), "SELECT tableoid::regclass::text FROM user_events WHERE event_id = $1", 1, ue);
    assert_string_equal(got, want);
    part_name(want, sizeof(want), "transaction_items", old);
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM transaction_items WHERE transaction_id = $1"
                           " AND tableoid = $2::regclass",
                           2, tx, want),
                     2);
    assert_int_equal(count_by_id("user_events", "event_id", ue), 1);
    assert_int_equal(count_by_id("transactions", "transaction_id", tx), 1);
    /* The moved rows keep their primary key: a resend still dedups. */
    batch_reset(&b);
    add_user_event(&b, ue, when, 7, 1, "ua");
    batch_note_offset(&b, "user-events", 7, 1, 2);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 0);

    /* Cleanup: the old day's partitions go, with this run's rows in them. */
    q_exec("BEGIN");
    pgq_int(admin, "DELETE FROM user_events WHERE event_id = $1", 1, ue);
    pgq_int(admin, "DELETE FROM transaction_items WHERE transaction_id = $1", 1, tx);
    pgq_int(admin, "DELETE FROM transactions WHERE transaction_id = $1", 1, tx);
    drop_day(old);
    q_exec("COMMIT");
    batch_free(&b);
    sink_destroy(s);
}

/* Applies init.sql with psql while another session holds an open write
 * transaction on the raw tables (as a running ecom-stream does): it must
 * neither wait for it nor change the data. */
static void test_reapply_init_sql(void **state)
{
    const char *init = getenv("ECOM_INIT_SQL");
    sink_t *s;
    batch_t b;
    sink_result_t res;
    char ue[37], ue2[37], when[TS_RFC3339_LEN];
    PGconn *busy;
    PGresult *r;
    int rc;

    (void)state;
    if (init == NULL || *init == '\0')
        skip();
    s = connected_sink();
    now_text(when);
    pgq_uuid(ue);
    batch_init(&b);
    add_user_event(&b, ue, when, 8, 0, "ua");
    batch_note_offset(&b, "user-events", 8, -1, 1);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);

    busy = PQconnectdb("");
    assert_int_equal(PQstatus(busy), CONNECTION_OK);
    r = PQexec(busy, "BEGIN; INSERT INTO transaction_items (transaction_id, line_no, event_time)"
                     " VALUES (gen_random_uuid(), 1, now()); UPDATE stream_offsets SET updated_at = now()"
                     " WHERE consumer_group = 'no-such-group'");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    rc = system("PGOPTIONS='-c lock_timeout=5000 -c client_min_messages=warning' "
                "psql -X -q -v ON_ERROR_STOP=1 -f \"$ECOM_INIT_SQL\" >/dev/null");
    assert_int_equal(rc, 0);
    r = PQexec(busy, "ROLLBACK");
    PQclear(r);
    PQfinish(busy);

    assert_int_equal(count_by_id("user_events", "event_id", ue), 1);
    assert_int_equal(stored_offset("user-events", 8), 1);
    /* Twice more for good measure, then the session still works. */
    assert_int_equal(system("psql -X -q -v ON_ERROR_STOP=1 -f \"$ECOM_INIT_SQL\" >/dev/null 2>&1"), 0);
    batch_reset(&b);
    pgq_uuid(ue2);
    add_user_event(&b, ue2, when, 8, 1, "ua");
    batch_note_offset(&b, "user-events", 8, 1, 2);
    assert_int_equal(sink_flush(s, &b, &res), SINK_OK);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 1);
    assert_int_equal(count_by_id("user_events", "event_id", ue), 1);
    batch_free(&b);
    sink_destroy(s);
}

/* A database created before dead_letter_events had payload_bytes and
 * payload_truncated gets them from init.sql, twice without harm; rows
 * stored before keep NULL and false. All inside one transaction that is
 * rolled back (init.sql's own BEGIN and COMMIT lines left out). */
static void test_dead_letter_columns_added(void **state)
{
    const char *init = getenv("ECOM_INIT_SQL");
    FILE *f;
    char line[4096], got[64];
    buf_t sql;

    (void)state;
    if (init == NULL || *init == '\0')
        skip();
    f = fopen(init, "r");
    assert_non_null(f);
    buf_init(&sql);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strcmp(line, "BEGIN;\n") != 0 && strcmp(line, "COMMIT;\n") != 0)
            buf_puts(&sql, line);
    fclose(f);
    assert_false(sql.oom);

    q_exec("BEGIN");
    q_exec("ALTER TABLE dead_letter_events DROP COLUMN payload_bytes, DROP COLUMN payload_truncated");
    pgq_int(admin, "INSERT INTO dead_letter_events (consumer_group, topic, kafka_key_encoding, payload,"
          " payload_encoding, reason) VALUES ($1, 'user-events', 'null', 'old', 'utf8', 'old row')",
          1, group);
    q_exec("SET LOCAL client_min_messages = warning");
    q_exec(sql.data);
    q_exec(sql.data);
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
                           " AND table_name = 'dead_letter_events'"
                           " AND column_name IN ('payload_bytes', 'payload_truncated')",
                           0),
                     2);
    pgq_text(admin, got, sizeof(got), "SELECT (payload_bytes IS NULL) || ' ' || payload_truncated"
                             " FROM dead_letter_events WHERE consumer_group = $1 AND reason = 'old row'",
           1, group);
    assert_string_equal(got, "true false");
    q_exec("ROLLBACK");
    buf_free(&sql);
}

/* The first free run of `n` future days without partitions, as days from
 * today. */
static int free_future_days(int from, int n)
{
    for (int k = from;; k++) {
        int ok = 1;
        for (int d = 0; d < n && ok; d++)
            ok = !day_has_partition(ts_now_ms() + (k + d) * DAY_MS);
        if (ok)
            return k;
    }
}

static PGresult *wait_result(PGconn *c)
{
    PGresult *res = PQgetResult(c), *extra;

    while ((extra = PQgetResult(c)) != NULL)
        PQclear(extra);
    return res;
}

static void test_concurrent_ensure(void **state)
{
    const char *sql = "SELECT ecom_ensure_daily_partitions((now() AT TIME ZONE 'UTC')::date + $1::integer,"
                      " (now() AT TIME ZONE 'UTC')::date + $2::integer)";
    PGconn *a = PQconnectdb(""), *b = PQconnectdb("");
    int k = free_future_days(20, 5);
    char k0[16], k1[16], k2[16], k4[16];
    const char *pa[2] = {k0, k1}, *pb[2] = {k1, k2};
    PGresult *ra, *rb;

    (void)state;
    assert_int_equal(PQstatus(a), CONNECTION_OK);
    assert_int_equal(PQstatus(b), CONNECTION_OK);
    snprintf(k0, sizeof(k0), "%d", k);
    snprintf(k1, sizeof(k1), "%d", k + 1);
    snprintf(k2, sizeof(k2), "%d", k + 2);
    snprintf(k4, sizeof(k4), "%d", k + 4);

    /* a holds the lock inside its transaction; b waits for it, then creates
     * only what a did not. */
    PQclear(PQexec(a, "BEGIN"));
    ra = PQexecParams(a, sql, 2, NULL, pa, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(ra), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(ra, 0, 0), "8");
    PQclear(ra);
    assert_int_equal(PQsendQueryParams(b, sql, 2, NULL, pb, NULL, NULL, 0), 1);
    for (int i = 0; i < 100; i++) {
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", PQbackendPID(b));
        if (pgq_int(admin, "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", 1, pid) > 0)
            break;
        usleep(50000);
    }
    assert_int_equal(PQconsumeInput(b), 1);
    assert_int_equal(PQisBusy(b), 1);
    ra = PQexec(a, "COMMIT");
    assert_int_equal(PQresultStatus(ra), PGRES_COMMAND_OK);
    PQclear(ra);
    rb = wait_result(b);
    assert_int_equal(PQresultStatus(rb), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(rb, 0, 0), "4");
    PQclear(rb);

    /* Both at once over the same five days: both succeed, each partition is
     * created once. (Days k..k+2 exist, k+3 and k+4 are new.) */
    pa[0] = k0;
    pa[1] = k4;
    assert_int_equal(PQsendQueryParams(a, sql, 2, NULL, pa, NULL, NULL, 0), 1);
    assert_int_equal(PQsendQueryParams(b, sql, 2, NULL, pa, NULL, NULL, 0), 1);
    ra = wait_result(a);
    rb = wait_result(b);
    assert_int_equal(PQresultStatus(ra), PGRES_TUPLES_OK);
    assert_int_equal(PQresultStatus(rb), PGRES_TUPLES_OK);
    assert_int_equal(atoi(PQgetvalue(ra, 0, 0)) + atoi(PQgetvalue(rb, 0, 0)), 8);
    PQclear(ra);
    PQclear(rb);
    for (int d = 0; d < 5; d++) {
        char name[96];
        part_name(name, sizeof(name), "transaction_items", ts_now_ms() + (k + d) * DAY_MS);
        assert_int_equal(pgq_int(admin, "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass($1)", 1, name), 1);
    }
    PQfinish(a);
    PQfinish(b);
    for (int d = 0; d < 5; d++)
        drop_day(ts_now_ms() + (k + d) * DAY_MS);
}

static void flush_one(sink_t *s, int32_t part, int64_t committed, int64_t next,
                      sink_status_t want, char id_out[37])
{
    batch_t b;
    sink_result_t res;
    char when[TS_RFC3339_LEN];

    now_text(when);
    pgq_uuid(id_out);
    batch_init(&b);
    add_user_event(&b, id_out, when, part, committed < 0 ? 0 : committed, "ua");
    batch_note_offset(&b, "user-events", part, committed, next);
    assert_int_equal(sink_flush(s, &b, &res), want);
    batch_free(&b);
}

static void terminate(int pid)
{
    char p[16];

    snprintf(p, sizeof(p), "%d", pid);
    assert_int_equal(pgq_int(admin, "SELECT pg_terminate_backend($1::integer)::integer", 1, p), 1);
    for (int i = 0; i < 100 && pgq_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::integer", 1, p) > 0; i++)
        usleep(20000);
}

/* Kills the backend of `pid` once it waits for a lock (run on a thread with
 * its own connection). */
static void *killer(void *arg)
{
    int pid = *(int *)arg;
    PGconn *c = PQconnectdb("");
    char p[16];
    const char *params[1] = {p};
    int done = 0;

    snprintf(p, sizeof(p), "%d", pid);
    for (int i = 0; i < 500 && !done && PQstatus(c) == CONNECTION_OK; i++) {
        PGresult *r = PQexecParams(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                      " WHERE pid = $1::integer AND wait_event_type = 'Lock'",
                                   1, NULL, params, NULL, NULL, 0);
        done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (!done)
            usleep(20000);
    }
    PQfinish(c);
    *(int *)arg = done;
    return NULL;
}

static void test_backend_killed(void **state)
{
    sink_t *s = connected_sink();
    char id[37], id2[37], id3[37];
    pthread_t th;
    int arg;

    (void)state;
    flush_one(s, 9, -1, 1, SINK_OK, id);

    /* Idle session killed: the flush fails, a reconnect brings it back. */
    terminate(PQbackendPID(sink_conn(s)));
    flush_one(s, 9, 1, 2, SINK_RETRY, id2);
    assert_false(sink_connected(s));
    assert_int_equal(count_by_id("user_events", "event_id", id2), 0);
    flush_one(s, 9, 1, 2, SINK_RETRY, id2); /* still disconnected */
    assert_int_equal(sink_connect(s, 10000), 0);
    flush_one(s, 9, 1, 2, SINK_OK, id2);
    assert_int_equal(count_by_id("user_events", "event_id", id2), 1);
    assert_int_equal(stored_offset("user-events", 9), 2);

    /* Killed in the middle of the flush transaction, while it waits for the
     * offset row that another session has locked. */
    q_exec("BEGIN");
    pgq_int(admin, "SELECT next_offset FROM stream_offsets WHERE consumer_group = $1 AND topic = 'user-events'"
          " AND kafka_partition = 9 FOR UPDATE",
          1, group);
    arg = PQbackendPID(sink_conn(s));
    assert_int_equal(pthread_create(&th, NULL, killer, &arg), 0);
    flush_one(s, 9, 2, 3, SINK_RETRY, id3);
    pthread_join(th, NULL);
    q_exec("ROLLBACK");
    assert_int_equal(arg, 1);
    assert_false(sink_connected(s));
    assert_int_equal(count_by_id("user_events", "event_id", id3), 0);
    assert_int_equal(stored_offset("user-events", 9), 2);
    assert_int_equal(sink_connect(s, 10000), 0);
    flush_one(s, 9, 2, 3, SINK_OK, id3);
    assert_int_equal(stored_offset("user-events", 9), 3);
    sink_destroy(s);
}

/* Commits admin's open transaction once the backend `pid` waits for a lock
 * (run on a thread; admin is idle on the main thread meanwhile). */
struct committer {
    int pid;
    int done;
};

static void *committer(void *arg)
{
    struct committer *c = arg;
    PGconn *watch = PQconnectdb("");
    char p[16];
    const char *params[1] = {p};
    int waiting = 0;
    PGresult *r;

    snprintf(p, sizeof(p), "%d", c->pid);
    for (int i = 0; i < 500 && !waiting && PQstatus(watch) == CONNECTION_OK; i++) {
        r = PQexecParams(watch, "SELECT 1 FROM pg_stat_activity WHERE pid = $1::integer"
                                " AND wait_event_type = 'Lock'",
                         1, NULL, params, NULL, NULL, 0);
        waiting = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (!waiting)
            usleep(20000);
    }
    PQfinish(watch);
    r = PQexec(admin, "COMMIT");
    c->done = waiting && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return NULL;
}

/* Two instances race for a partition: the other one moves the offset while
 * this flush waits for the row; the flush must see the new value and fence. */
static void test_fence_race(void **state)
{
    sink_t *s = connected_sink();
    struct committer c;
    pthread_t th;
    char id[37], id2[37];

    (void)state;
    flush_one(s, 11, -1, 1, SINK_OK, id);
    q_exec("BEGIN");
    pgq_int(admin, "UPDATE stream_offsets SET next_offset = 5 WHERE consumer_group = $1"
          " AND topic = 'user-events' AND kafka_partition = 11",
          1, group);
    c.pid = PQbackendPID(sink_conn(s));
    c.done = 0;
    assert_int_equal(pthread_create(&th, NULL, committer, &c), 0);
    flush_one(s, 11, 1, 2, SINK_FENCED, id2);
    pthread_join(th, NULL);
    assert_int_equal(c.done, 1);
    assert_true(sink_connected(s));
    assert_int_equal(stored_offset("user-events", 11), 5);
    assert_int_equal(count_by_id("user_events", "event_id", id2), 0);
    sink_destroy(s);
}

/* Stops the whole server (scripts/pg-local.sh), fails a flush, then waits in
 * sink_connect() while the server comes back. */
static void test_server_restart(void **state)
{
    const char *pg_local = getenv("ECOM_PG_LOCAL");
    sink_t *s;
    char id[37];
    pid_t child;
    int status = 0;

    (void)state;
    if (pg_local == NULL || *pg_local == '\0')
        skip();
    s = connected_sink();
    flush_one(s, 10, -1, 1, SINK_OK, id);
    assert_int_equal(system("\"$ECOM_PG_LOCAL\" stop >/dev/null"), 0);
    flush_one(s, 10, 1, 2, SINK_RETRY, id);
    assert_false(sink_connected(s));
    assert_int_equal(sink_connect(s, 0), -1);

    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        usleep(500000);
        execl("/bin/sh", "sh", "-c", "exec \"$ECOM_PG_LOCAL\" start >/dev/null", (char *)NULL);
        _exit(127);
    }
    assert_int_equal(sink_connect(s, 90000), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    flush_one(s, 10, 1, 2, SINK_OK, id);

    PQreset(admin);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    assert_int_equal(count_by_id("user_events", "event_id", id), 1);
    assert_int_equal(stored_offset("user-events", 10), 2);
    sink_destroy(s);
}

/* ---- the offset fence, explained ------------------------------------- */

/* Runs sink_flush with stderr in a temporary file; returns what was logged
 * (the caller frees it). */
static char *flush_logged(sink_t *s, const batch_t *b, sink_result_t *res, sink_status_t *st)
{
    FILE *log = tmpfile();
    int saved = dup(STDERR_FILENO);
    long size;
    char *text;

    assert_non_null(log);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(log), STDERR_FILENO) >= 0);
    *st = sink_flush(s, b, res);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_int_equal(fseek(log, 0, SEEK_END), 0); /* written through the descriptor */
    size = ftell(log);
    assert_true(size >= 0);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(log);
    assert_int_equal(fread(text, 1, (size_t)size, log), (size_t)size);
    fclose(log);
    fputs(text, stderr); /* still shown in the test's output */
    return text;
}

static int count_lines_with(const char *text, const char *what)
{
    int n = 0;

    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *hit = strstr(line, what);
        n += hit != NULL && hit < line + len;
        line += len + (end != NULL);
    }
    return n;
}

static void set_stored(int partition, const char *value)
{
    char p[16];

    snprintf(p, sizeof(p), "%d", partition);
    if (value == NULL)
        pgq_int(admin, "DELETE FROM stream_offsets WHERE consumer_group = $1 AND topic = 'user-events'"
              " AND kafka_partition = $2::integer",
              2, group, p);
    else
        pgq_int(admin, "INSERT INTO stream_offsets (consumer_group, topic, kafka_partition, next_offset)"
              " VALUES ($1, 'user-events', $2::integer, $3::bigint) ON CONFLICT"
              " (consumer_group, topic, kafka_partition) DO UPDATE SET next_offset = excluded.next_offset",
              3, group, p, value);
}

/* One flush that must fail its fence: checks the counts, and that each
 * differing partition got exactly one log line with its explanation. */
static void expect_fence(sink_t *s, const int64_t (*parts)[2], size_t n, int lost, int other)
{
    batch_t b;
    sink_result_t res;
    sink_status_t st;
    char id[37], when[TS_RFC3339_LEN], *log;

    now_text(when);
    pgq_uuid(id);
    batch_init(&b);
    add_user_event(&b, id, when, (int32_t)parts[0][0], 0, "ua");
    for (size_t i = 0; i < n; i++)
        assert_int_equal(batch_note_offset(&b, "user-events", (int32_t)parts[i][0], parts[i][1],
                                           parts[i][1] < 0 ? 1 : parts[i][1] + 1),
                         0);
    log = flush_logged(s, &b, &res, &st);
    assert_int_equal(st, SINK_FENCED);
    assert_int_equal(res.fence_lost, lost);
    assert_int_equal(res.fence_other, other);
    assert_int_equal(res.staged[BATCH_USER_EVENTS], 1);
    assert_int_equal(res.inserted[BATCH_USER_EVENTS], 0);
    assert_int_equal(count_lines_with(log, "offset fence failed"), lost + other);
    assert_int_equal(count_lines_with(log, "PostgreSQL lost a commit"), lost);
    assert_int_equal(count_lines_with(log, "another instance"), other);
    assert_true(sink_connected(s));
    assert_int_equal(count_by_id("user_events", "event_id", id), 0);
    free(log);
    batch_free(&b);
}

/* stream_offsets behind the batch, or without the row it expects: a lost
 * commit (synchronous_commit = off and a crash); ahead, or with a row it
 * does not expect: another instance. */
static void test_fence_classified(void **state)
{
    sink_t *s = connected_sink();
    char id[37];

    (void)state;
    flush_one(s, 12, -1, 10, SINK_OK, id);
    flush_one(s, 13, -1, 20, SINK_OK, id);
    flush_one(s, 14, -1, 5, SINK_OK, id);

    set_stored(12, "7"); /* the commit that moved 7 to 10 was lost */
    expect_fence(s, (const int64_t[][2]){{12, 10}}, 1, 1, 0);
    set_stored(12, NULL); /* the commit that created the row was lost */
    expect_fence(s, (const int64_t[][2]){{12, 10}}, 1, 1, 0);
    set_stored(12, "10");
    expect_fence(s, (const int64_t[][2]){{13, 15}}, 1, 0, 1);  /* ahead */
    expect_fence(s, (const int64_t[][2]){{13, -1}}, 1, 0, 1);  /* a row, none expected */
    /* Mixed: 12 behind (lost), 13 as expected (not counted), 14 present. */
    expect_fence(s, (const int64_t[][2]){{12, 12}, {13, 20}, {14, -1}}, 3, 1, 1);
    assert_int_equal(stored_offset("user-events", 12), 10);
    assert_int_equal(stored_offset("user-events", 13), 20);
    assert_int_equal(stored_offset("user-events", 14), 5);
    flush_one(s, 12, 10, 11, SINK_OK, id); /* the session still works */
    sink_destroy(s);
}

/* ---- deadlines toward PostgreSQL ------------------------------------- */

/* The value libpq uses for keyword on conn ("" when unset). */
static void conn_value(PGconn *conn, const char *keyword, char *out, size_t size)
{
    PQconninfoOption *opts = PQconninfo(conn);

    assert_non_null(opts);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val != NULL)
            snprintf(out, size, "%s", o->val);
    PQconninfoFree(opts);
}

static void expect_conn_value(PGconn *conn, const char *keyword, const char *want)
{
    char got[128];

    conn_value(conn, keyword, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("%s is \"%s\", want \"%s\"", keyword, got, want);
}

static void show(PGconn *conn, const char *sql, char *out, size_t size)
{
    PGresult *r = PQexec(conn, sql);

    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* The socket option of a TCP connection, or -1 for another kind. */
static int tcp_option(PGconn *conn, int level, int name)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    int v = -1;
    socklen_t vlen = sizeof(v);

    if (getsockname(PQsocket(conn), (struct sockaddr *)&addr, &len) != 0 ||
        (addr.ss_family != AF_INET && addr.ss_family != AF_INET6))
        return -1;
    assert_int_equal(getsockopt(PQsocket(conn), level, name, &v, &vlen), 0);
    return v;
}

/* Sets (value not NULL) or unsets an environment variable; returns the old
 * value (the caller frees it) for restore_env. */
static char *swap_env(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;

    if (value != NULL)
        setenv(name, value, 1);
    else
        unsetenv(name);
    return saved;
}

static void restore_env(const char *name, char *saved)
{
    if (saved != NULL)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

/* Without settings of its own, a connection gets db.h's deadlines. */
static void test_deadline_defaults(void **state)
{
    char *opts = swap_env("PGOPTIONS", NULL), *timeout = swap_env("PGCONNECT_TIMEOUT", NULL);
    sink_t *s = connected_sink();
    PGconn *c = sink_conn(s);
    char got[64];

    (void)state;
    expect_conn_value(c, "connect_timeout", "5");
    expect_conn_value(c, "keepalives", "1");
    expect_conn_value(c, "keepalives_idle", "5");
    expect_conn_value(c, "keepalives_interval", "2");
    expect_conn_value(c, "keepalives_count", "3");
    expect_conn_value(c, "tcp_user_timeout", "10000");
    expect_conn_value(c, "options", "-c statement_timeout=30000");
    show(c, "SHOW statement_timeout", got, sizeof(got));
    assert_string_equal(got, "30s");
    show(c, "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'", got, sizeof(got));
    assert_string_equal(got, "30000");
    /* The server ends a session a vanished client left in a transaction. */
    show(c, "SHOW idle_in_transaction_session_timeout", got, sizeof(got));
    assert_string_equal(got, "15s");
    show(c, "SHOW tcp_keepalives_idle", got, sizeof(got));
    if (getenv("PGHOST") != NULL && getenv("PGHOST")[0] != '/')
        assert_string_equal(got, "5");
    /* On a TCP connection (test_sink_pg.sh uses localhost), the kernel's
     * view too. */
    if (getenv("PGHOST") != NULL && getenv("PGHOST")[0] != '/')
        assert_true(tcp_option(c, IPPROTO_TCP, TCP_KEEPIDLE) >= 0);
    if (tcp_option(c, IPPROTO_TCP, TCP_KEEPIDLE) >= 0) {
        assert_int_equal(tcp_option(c, SOL_SOCKET, SO_KEEPALIVE), 1);
        assert_int_equal(tcp_option(c, IPPROTO_TCP, TCP_KEEPIDLE), 5);
        assert_int_equal(tcp_option(c, IPPROTO_TCP, TCP_KEEPINTVL), 2);
        assert_int_equal(tcp_option(c, IPPROTO_TCP, TCP_KEEPCNT), 3);
        assert_int_equal(tcp_option(c, IPPROTO_TCP, TCP_USER_TIMEOUT), 10000);
    }
    sink_destroy(s);
    restore_env("PGOPTIONS", opts);
    restore_env("PGCONNECT_TIMEOUT", timeout);
}

/* The connection string and the PG* variables override the defaults, and
 * the statement timeout is enforced. */
static void test_deadline_overrides(void **state)
{
    char *opts = swap_env("PGOPTIONS", NULL), *timeout = swap_env("PGCONNECT_TIMEOUT", NULL);
    sink_t *s = sink_new("connect_timeout=2 keepalives_idle=7 tcp_user_timeout=4000"
                         " options='-c statement_timeout=1500'",
                         group, "test_sink");
    PGresult *r;
    char got[64];
    int64_t start;

    (void)state;
    assert_non_null(s);
    assert_int_equal(sink_connect(s, 5000), 0);
    expect_conn_value(sink_conn(s), "connect_timeout", "2");
    expect_conn_value(sink_conn(s), "keepalives_idle", "7");
    expect_conn_value(sink_conn(s), "keepalives_interval", "2"); /* still the default */
    expect_conn_value(sink_conn(s), "tcp_user_timeout", "4000");
    show(sink_conn(s), "SHOW statement_timeout", got, sizeof(got));
    assert_string_equal(got, "1500ms");
    if (tcp_option(sink_conn(s), IPPROTO_TCP, TCP_KEEPIDLE) >= 0)
        assert_int_equal(tcp_option(sink_conn(s), IPPROTO_TCP, TCP_KEEPIDLE), 7);
    start = ts_monotonic_ms();
    r = PQexec(sink_conn(s), "SELECT pg_sleep(10)");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014"); /* query_canceled */
    PQclear(r);
    assert_true(ts_monotonic_ms() - start < 5000);
    sink_destroy(s);

    setenv("PGOPTIONS", "-c statement_timeout=1234", 1);
    setenv("PGCONNECT_TIMEOUT", "3", 1);
    s = connected_sink();
    show(sink_conn(s), "SHOW statement_timeout", got, sizeof(got));
    assert_string_equal(got, "1234ms");
    expect_conn_value(sink_conn(s), "connect_timeout", "3");
    expect_conn_value(sink_conn(s), "options", "-c statement_timeout=1234");
    expect_conn_value(sink_conn(s), "keepalives_count", "3");
    sink_destroy(s);
    restore_env("PGOPTIONS", opts);
    restore_env("PGCONNECT_TIMEOUT", timeout);
}

/* A server that accepts TCP connections but never answers (a listening
 * socket nobody accepts on): one attempt ends after connect_timeout, 5 s
 * by default, PGCONNECT_TIMEOUT's value when set. */
static void test_connect_timeout(void **state)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char conninfo[96];
    char *timeout = swap_env("PGCONNECT_TIMEOUT", NULL);
    sink_t *s;
    int64_t start, took;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d sslmode=disable gssencmode=disable",
             ntohs(addr.sin_port));
    s = sink_new(conninfo, group, "test_sink");
    assert_non_null(s);

    start = ts_monotonic_ms();
    assert_int_equal(sink_connect(s, 0), -1);
    took = ts_monotonic_ms() - start;
    if (took < 4500 || took > 8000)
        fail_msg("one attempt took %lld ms with the default connect_timeout of 5 s", (long long)took);

    setenv("PGCONNECT_TIMEOUT", "2", 1);
    start = ts_monotonic_ms();
    assert_int_equal(sink_connect(s, 0), -1);
    took = ts_monotonic_ms() - start;
    if (took < 1500 || took > 4000)
        fail_msg("one attempt took %lld ms with PGCONNECT_TIMEOUT=2", (long long)took);
    restore_env("PGCONNECT_TIMEOUT", timeout);
    sink_destroy(s);
    close(fd);
}

/* The array literals of db.h, read back by PostgreSQL element by element. */
static void test_array_literals(void **state)
{
    static const char *const texts[] = {"plain", "say \"hi\"", "back\\slash", "a,b", "{c}",
                                        "}", "NULL", "", " x ", "caf\xc3\xa9\ttab"};
    const size_t n = sizeof(texts) / sizeof(texts[0]);
    buf_t a, ints;
    char got[64], k[16];

    (void)state;
    buf_init(&a);
    buf_init(&ints);
    db_array_begin(&a);
    for (size_t i = 0; i < n; i++)
        db_array_text(&a, texts[i]);
    db_array_end(&a);
    db_array_begin(&ints);
    db_array_int(&ints, INT64_MIN);
    db_array_int(&ints, 0);
    db_array_int(&ints, INT64_MAX);
    db_array_end(&ints);
    assert_false(a.oom || ints.oom);
    assert_int_equal(pgq_int(admin, "SELECT cardinality($1::text[])", 1, a.data), (long long)n);
    assert_int_equal(pgq_int(admin, "SELECT count(*) FROM unnest($1::text[]) AS e WHERE e IS NULL", 1, a.data), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%zu", i + 1);
        pgq_text(admin, got, sizeof(got), "SELECT ($1::text[])[$2::integer]", 2, a.data, k);
        assert_string_equal(got, texts[i]);
    }
    pgq_text(admin, got, sizeof(got), "SELECT array_to_string($1::bigint[], ' ')", 1, ints.data);
    assert_string_equal(got, "-9223372036854775808 0 9223372036854775807");
    buf_free(&a);
    buf_free(&ints);
}

/* ---- setup ------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    return 0;
}

/* Deletes this run's rows. */
static int group_teardown(void **state)
{
    static const char *const sql[] = {
        "DELETE FROM transaction_items WHERE transaction_id IN"
        " (SELECT transaction_id FROM transactions WHERE user_id = $1)",
        "DELETE FROM transactions WHERE user_id = $1",
        "DELETE FROM user_events WHERE user_id = $1",
        "DELETE FROM inventory_updates WHERE product_id = $2",
        "DELETE FROM dead_letter_events WHERE consumer_group = $3",
        "DELETE FROM stream_gaps WHERE consumer_group = $3",
        "DELETE FROM stream_offsets WHERE consumer_group = $3",
    };
    /* what a failed rejection case may have left behind */
    static const char *const ddl[] = {
        "ALTER TABLE user_events DROP CONSTRAINT IF EXISTS test_reject_agent",
        "ALTER TABLE transaction_items DROP CONSTRAINT IF EXISTS test_reject_item",
        "ALTER TABLE inventory_updates DROP CONSTRAINT IF EXISTS test_reject_warehouse",
        "DROP TRIGGER IF EXISTS test_sink_refuse ON user_events",
        "DROP FUNCTION IF EXISTS test_sink_refuse()",
    };
    const char *params[3] = {user, product, group};

    (void)state;
    if (PQstatus(admin) != CONNECTION_OK)
        PQreset(admin);
    for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++) {
        PGresult *r = PQexec(admin, ddl[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "cleanup failed: %s", PQerrorMessage(admin));
        PQclear(r);
    }
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        PGresult *r = PQexecParams(admin, sql[i], 3, (const Oid[]){25, 25, 25}, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "cleanup failed: %s", PQerrorMessage(admin));
        PQclear(r);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_flush_all_and_resend),
        cmocka_unit_test(test_same_transaction_twice),
        cmocka_unit_test(test_fenced),
        cmocka_unit_test(test_fence_race),
        cmocka_unit_test(test_fence_classified),
        cmocka_unit_test(test_rejected_row),
        cmocka_unit_test(test_rejected_first_last_and_between),
        cmocka_unit_test(test_rejected_all),
        cmocka_unit_test(test_rejected_with_duplicates),
        cmocka_unit_test(test_not_rejected),
        cmocka_unit_test(test_old_event_default_partition),
        cmocka_unit_test(test_reapply_init_sql),
        cmocka_unit_test(test_dead_letter_columns_added),
        cmocka_unit_test(test_concurrent_ensure),
        cmocka_unit_test(test_backend_killed),
        cmocka_unit_test(test_server_restart),
        cmocka_unit_test(test_deadline_defaults),
        cmocka_unit_test(test_deadline_overrides),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_array_literals),
    };
    long long tag = (long long)getpid() * 1000 + ts_now_ms() % 1000;
    int rc;

    elog_init("test_sink");
    if (getenv("PGHOST") == NULL || getenv("PGDATABASE") == NULL) {
        printf("skipped: set PGHOST and PGDATABASE (and PGUSER, PGPASSWORD, PGPORT) to run against PostgreSQL\n");
        return 77;
    }
    admin = PQconnectdb("");
    if (PQstatus(admin) != CONNECTION_OK) {
        printf("skipped: could not connect to PostgreSQL: %s", PQerrorMessage(admin));
        PQfinish(admin);
        return 77;
    }
    snprintf(group, sizeof(group), "test-sink-%lld", tag);
    snprintf(user, sizeof(user), "TSINK%lld", tag);
    snprintf(product, sizeof(product), "TSINKP%lld", tag);
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    PQfinish(admin);
    return rc;
}
