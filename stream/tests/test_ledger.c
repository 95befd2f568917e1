/*
 * test_ledger.c - the exactly-once bookkeeping (stream/ledger.c) driven as
 * event sequences: assignments, stored offsets read, messages, write
 * results and time, checking the actions it asks for. No broker, no
 * database, no sleeps: time is a number passed in.
 */
#include "batch.h"
#include "ledger.h"
#include "schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define MS 1000LL
#define S (1000 * MS)

typedef struct {
    int n;
    struct {
        int topic;
        int32_t partition;
        ledger_action_t action;
        int64_t pos;
    } a[64];
} actions_t;

static void record_action(void *arg, ledger_part_t *p, ledger_action_t a)
{
    actions_t *acts = arg;

    assert_true(acts->n < 64);
    acts->a[acts->n].topic = p->topic;
    acts->a[acts->n].partition = p->partition;
    acts->a[acts->n].action = a;
    acts->a[acts->n].pos = p->pos;
    acts->n++;
}

static actions_t apply(ledger_t *l)
{
    actions_t acts = {0};
    ledger_apply(l, record_action, &acts);
    return acts;
}

/* How many actions of this kind apply() asked for. */
static int count(const actions_t *acts, ledger_action_t a)
{
    int n = 0;
    for (int i = 0; i < acts->n; i++)
        n += acts->a[i].action == a;
    return n;
}

static ledger_t *new_ledger(void)
{
    ledger_conf_t c = {250, 5000, 30 * S};
    ledger_t *l = ledger_new(&c);
    assert_non_null(l);
    return l;
}

/* Assigns user-events [0..n-1] and loads them with the given stored
 * offsets (-1: no row), then applies the seeks. */
static void assign_and_load(ledger_t *l, int n, const int64_t *stored, int64_t now)
{
    ledger_part_t *due[16];
    ledger_gap_t gap;
    actions_t acts;

    for (int i = 0; i < n; i++)
        assert_non_null(ledger_assign(l, SCHEMA_USER_EVENTS, i, now));
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_PAUSE), n); /* paused until loaded */
    assert_int_equal(ledger_load_due(l, now, due, 16), (size_t)n);
    for (int i = 0; i < n; i++) {
        ledger_loaded(l, due[i], stored[i] >= 0, stored[i] >= 0 ? stored[i] : 0, 0, &gap);
        assert_null(gap.kind);
    }
    ledger_load_done(l, 1, now);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_SEEK), n);
}

/* Feeds offsets [from, to) of user-events [partition]; all must be taken. */
static void feed(ledger_t *l, int32_t partition, int64_t from, int64_t to)
{
    ledger_part_t *p = ledger_find(l, SCHEMA_USER_EVENTS, partition);
    ledger_gap_t gap;

    for (int64_t o = from; o < to; o++) {
        assert_int_equal(ledger_message(l, p, o, -1, -1, &gap), LEDGER_TAKE);
        assert_null(gap.kind);
    }
}

/* The offsets the batch moves for a partition: committed_next -> next. */
static void assert_offset(const batch_t *b, int32_t partition, int64_t from, int64_t to)
{
    for (size_t i = 0; i < b->offset_count; i++) {
        if (b->offsets[i].partition == partition &&
            strcmp(b->offsets[i].topic, schema_topics[SCHEMA_USER_EVENTS].name) == 0) {
            assert_int_equal(b->offsets[i].committed_next, from);
            assert_int_equal(b->offsets[i].next, to);
            return;
        }
    }
    fail_msg("partition %d not in the batch", (int)partition);
}

/* Issue 7 part 1: a PostgreSQL crash with synchronous_commit=off loses the
 * last commit; the held batch's retry then fails the fence. The old code
 * rewound but never resumed the paused partitions (a stall for ever, and
 * --exit-when-idle exited at once). Now every partition reloads, seeks to
 * what PostgreSQL really holds, and resumes. */
static void test_lost_commit_resumes(void **state)
{
    const int64_t stored[2] = {100, 200};
    ledger_t *l = new_ledger();
    batch_t a, b;
    actions_t acts;
    ledger_part_t *due[4];
    ledger_gap_t gap;
    char detail[256];

    (void)state;
    batch_init(&a);
    batch_init(&b);
    assign_and_load(l, 2, stored, 0);
    assert_true(ledger_settled(l));
    feed(l, 0, 100, 110);
    feed(l, 1, 200, 205);
    assert_false(ledger_settled(l)); /* batched, not stored */
    assert_true(ledger_can_seal(l));
    assert_int_equal(ledger_seal(l, &a, 1 * S), 0);
    assert_offset(&a, 0, 100, 110);
    assert_offset(&a, 1, 200, 205);
    feed(l, 0, 110, 120); /* the next batch fills while a is written */
    assert_false(ledger_can_seal(l));
    assert_int_equal(ledger_written(l, &a, LEDGER_WRITE_OK, 2 * S), LEDGER_SETTLED);
    assert_int_equal(ledger_find(l, SCHEMA_USER_EVENTS, 0)->stored, 110);
    assert_int_equal(ledger_seal(l, &b, 2 * S), 0);
    assert_offset(&b, 0, 110, 120); /* the fence starts where a ended */
    /* PostgreSQL crashes: the write fails, the batch is held, all pause */
    assert_int_equal(ledger_written(l, &b, LEDGER_WRITE_RETRY, 3 * S), LEDGER_HOLD);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_PAUSE), 2);
    assert_false(ledger_retry_due(l, 3 * S + 100 * MS));
    assert_true(ledger_retry_due(l, 3 * S + 250 * MS));
    /* it comes back without a's commit: the retry fails the fence */
    assert_int_equal(ledger_written(l, &b, LEDGER_WRITE_FENCED_LOST, 14 * S), LEDGER_REWIND);
    assert_false(ledger_settled(l));
    assert_int_equal(ledger_load_due(l, 14 * S, due, 4), 2);
    ledger_loaded(l, due[0], 1, 100, 0, &gap); /* a was lost */
    ledger_loaded(l, due[1], 1, 200, 0, &gap);
    ledger_load_done(l, 1, 14 * S);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_SEEK), 2); /* seek and resume: no stall */
    assert_int_equal(acts.a[0].pos, 100);
    assert_int_equal(acts.a[1].pos, 200);
    assert_true(ledger_settled(l));
    /* the re-read messages are taken again from the stored offsets */
    feed(l, 0, 100, 101);
    assert_true(ledger_health(l, 1, 15 * S, detail, sizeof(detail)));
    batch_free(&a);
    batch_free(&b);
    ledger_destroy(l);
}

/* /health tells the truth: a held batch for longer than the stall bound,
 * or a write that does not return (a frozen server), is unhealthy. */
static void test_health_stall(void **state)
{
    const int64_t stored[1] = {0};
    ledger_t *l = new_ledger();
    batch_t a;
    char detail[256];
    ledger_gap_t gap;

    (void)state;
    batch_init(&a);
    assign_and_load(l, 1, stored, 0);
    ledger_watermarks(ledger_find(l, SCHEMA_USER_EVENTS, 0), 0, 500, 0, &gap);
    assert_true(ledger_health(l, 1, 1 * S, detail, sizeof(detail)));
    assert_string_equal(detail, "postgres up, kafka up");
    assert_false(ledger_health(l, 0, 1 * S, detail, sizeof(detail)));
    assert_non_null(strstr(detail, "kafka down"));
    feed(l, 0, 0, 10);
    assert_int_equal(ledger_seal(l, &a, 1 * S), 0);
    /* the write hangs: fine for a while, then unhealthy */
    assert_true(ledger_health(l, 1, 20 * S, detail, sizeof(detail)));
    assert_false(ledger_health(l, 1, 32 * S, detail, sizeof(detail)));
    assert_non_null(strstr(detail, "write has been running for 31 s"));
    assert_non_null(strstr(detail, "stalled: 1 partitions with 500 messages of lag"));
    /* it fails: postgres down at once */
    assert_int_equal(ledger_written(l, &a, LEDGER_WRITE_RETRY, 33 * S), LEDGER_HOLD);
    assert_false(ledger_health(l, 1, 33 * S, detail, sizeof(detail)));
    assert_non_null(strstr(detail, "postgres down"));
    assert_true(ledger_retry_due(l, 34 * S));
    assert_int_equal(ledger_written(l, &a, LEDGER_WRITE_OK, 34 * S), LEDGER_SETTLED);
    apply(l);
    ledger_watermarks(ledger_find(l, SCHEMA_USER_EVENTS, 0), 0, 10, 34 * S, &gap);
    assert_true(ledger_health(l, 1, 35 * S, detail, sizeof(detail)));
    assert_int_equal(ledger_lag(l), 0);
    batch_free(&a);
    ledger_destroy(l);
}

/* Reading stored offsets fails (PostgreSQL down at assignment): the old
 * code assigned nothing and never retried. Now the partitions stay paused
 * and the read is retried with backoff. */
static void test_load_failure_retries(void **state)
{
    ledger_t *l = new_ledger();
    ledger_part_t *due[4];
    ledger_gap_t gap;
    actions_t acts;
    char detail[256];

    (void)state;
    assert_non_null(ledger_assign(l, SCHEMA_TRANSACTIONS, 3, 0));
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_PAUSE), 1);
    assert_int_equal(ledger_load_due(l, 0, due, 4), 1);
    assert_int_equal(ledger_load_due(l, 0, due, 4), 0); /* one job at a time */
    ledger_load_done(l, 0, 1 * S);
    assert_false(ledger_pg_up(l));
    assert_int_equal(ledger_load_due(l, 1 * S + 100 * MS, due, 4), 0);
    assert_int_equal(ledger_load_due(l, 1 * S + 250 * MS, due, 4), 1);
    ledger_load_done(l, 0, 2 * S); /* backoff doubles */
    assert_int_equal(ledger_load_due(l, 2 * S + 400 * MS, due, 4), 0);
    assert_int_equal(ledger_load_due(l, 2 * S + 500 * MS, due, 4), 1);
    ledger_loaded(l, due[0], 0, 0, 0, &gap);
    ledger_load_done(l, 1, 3 * S);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_SEEK), 1);
    assert_int_equal(acts.a[0].pos, 0);
    /* an empty partition without a stored row is caught up, not stalled */
    ledger_watermarks(due[0], 0, 0, 39 * S, &gap);
    assert_true(ledger_health(l, 1, 40 * S, detail, sizeof(detail)));
    assert_true(ledger_settled(l));
    ledger_destroy(l);
}

/* Holes: below the log start is lost data; a hole the broker still holds
 * (transaction markers, aborted records) is not. The old code recorded
 * every hole in stream_gaps. */
static void test_gaps_and_markers(void **state)
{
    const int64_t stored[1] = {10};
    ledger_t *l = new_ledger();
    ledger_part_t *p;
    ledger_gap_t gap;

    (void)state;
    assign_and_load(l, 1, stored, 0);
    p = ledger_find(l, SCHEMA_USER_EVENTS, 0);
    /* a commit marker at offset 10: the next message is 11, log starts at 0 */
    assert_int_equal(ledger_message(l, p, 11, 0, 50, &gap), LEDGER_TAKE);
    assert_null(gap.kind);
    assert_int_equal(gap.holes, 1);
    assert_int_equal(p->pos, 12);
    /* retention deleted up to 30; the first message left is 30 */
    assert_int_equal(ledger_message(l, p, 30, 30, 50, &gap), LEDGER_TAKE);
    assert_string_equal(gap.kind, "retention");
    assert_int_equal(gap.first, 12);
    assert_int_equal(gap.last, 29);
    assert_int_equal(gap.holes, 0);
    /* both at once: lost up to the log start 40, then a marker at 40 */
    assert_int_equal(ledger_message(l, p, 41, 40, 50, &gap), LEDGER_TAKE);
    assert_string_equal(gap.kind, "retention");
    assert_int_equal(gap.first, 31);
    assert_int_equal(gap.last, 39);
    assert_int_equal(gap.holes, 1);
    /* no log start known: a hole counts as lost (never silently skipped) */
    assert_int_equal(ledger_message(l, p, 45, -1, -1, &gap), LEDGER_TAKE);
    assert_string_equal(gap.kind, "retention");
    assert_int_equal(gap.first, 42);
    assert_int_equal(gap.last, 44);
    /* a re-fetch below pos is skipped without asking the broker */
    assert_int_equal(ledger_message(l, p, 44, 0, 50, &gap), LEDGER_SKIP);
    assert_int_equal(ledger_message(l, p, 44, -1, -1, &gap), LEDGER_SKIP);
    /* the log now ends before pos: the topic was recreated */
    assert_int_equal(ledger_message(l, p, 0, 0, 5, &gap), LEDGER_TAKE);
    assert_string_equal(gap.kind, "reset");
    assert_int_equal(gap.first, 0);
    assert_int_equal(gap.last, 45);
    assert_int_equal(p->pos, 1);
    assert_int_equal(p->holes, 2);
    ledger_destroy(l);
}

/* Retention emptied the whole log while the stream was stopped: no
 * message comes to show the hole, so the watermarks must (found against
 * real Kafka: 30,000 events vanished without a gap). */
static void test_emptied_log(void **state)
{
    const int64_t stored[1] = {100};
    ledger_t *l = new_ledger();
    ledger_part_t *p;
    ledger_gap_t gap;
    batch_t b;

    (void)state;
    batch_init(&b);
    assign_and_load(l, 1, stored, 0);
    p = ledger_find(l, SCHEMA_USER_EVENTS, 0);
    ledger_watermarks(p, 50, 400, 0, &gap); /* messages will come: ledger_message sees the hole */
    assert_null(gap.kind);
    ledger_watermarks(p, 400, 400, 0, &gap);
    assert_string_equal(gap.kind, "retention");
    assert_int_equal(gap.first, 100);
    assert_int_equal(gap.last, 399);
    assert_int_equal(p->pos, 400);
    ledger_watermarks(p, 400, 400, 0, &gap); /* once */
    assert_null(gap.kind);
    assert_int_equal(ledger_seal(l, &b, 0), 0);
    assert_offset(&b, 0, 100, 400);
    batch_free(&b);
    ledger_destroy(l);
}

/* Stored offsets of another Kafka cluster: start over from 0, record the
 * reset, and move the stored offset back with the next batch. */
static void test_other_cluster(void **state)
{
    ledger_t *l = new_ledger();
    ledger_part_t *due[2];
    ledger_gap_t gap;
    batch_t b;

    (void)state;
    batch_init(&b);
    assert_non_null(ledger_assign(l, SCHEMA_INVENTORY, 0, 0));
    assert_int_equal(ledger_load_due(l, 0, due, 2), 1);
    ledger_loaded(l, due[0], 1, 700, 1, &gap);
    ledger_load_done(l, 1, 0);
    assert_string_equal(gap.kind, "reset");
    assert_int_equal(gap.first, 0);
    assert_int_equal(gap.last, 699);
    assert_int_equal(due[0]->pos, 0);
    assert_false(ledger_settled(l));
    apply(l);
    assert_int_equal(ledger_seal(l, &b, 0), 0);
    assert_int_equal(b.offset_count, 1);
    assert_int_equal(b.offsets[0].committed_next, 700);
    assert_int_equal(b.offsets[0].next, 0);
    batch_free(&b);
    ledger_destroy(l);
}

/* A revocation while PostgreSQL cannot be reached drops the batches; a
 * write still running becomes an orphan whose result changes nothing. */
static void test_drop_orphan(void **state)
{
    const int64_t stored[2] = {0, 0};
    ledger_t *l = new_ledger();
    batch_t a;

    (void)state;
    batch_init(&a);
    assign_and_load(l, 2, stored, 0);
    feed(l, 0, 0, 5);
    assert_int_equal(ledger_seal(l, &a, 0), 0);
    ledger_drop(l);
    assert_true(ledger_writer_busy(l));
    ledger_revoke(l, SCHEMA_USER_EVENTS, 0);
    assert_null(ledger_find(l, SCHEMA_USER_EVENTS, 0));
    assert_int_equal(ledger_find(l, SCHEMA_USER_EVENTS, 1)->state, LEDGER_LOADING);
    assert_int_equal(ledger_written(l, &a, LEDGER_WRITE_OK, 1 * S), LEDGER_ORPHAN);
    assert_false(ledger_writer_busy(l));
    batch_free(&a);
    ledger_destroy(l);
}

/* Cooperative rebalancing: a partition added while a write runs waits for
 * the worker (one PostgreSQL connection, one thread), then loads alone. */
static void test_incremental_assign(void **state)
{
    const int64_t stored[1] = {0};
    ledger_t *l = new_ledger();
    ledger_part_t *due[4];
    ledger_gap_t gap;
    actions_t acts;
    batch_t a;

    (void)state;
    batch_init(&a);
    assign_and_load(l, 1, stored, 0);
    feed(l, 0, 0, 3);
    assert_int_equal(ledger_seal(l, &a, 0), 0);
    assert_non_null(ledger_assign(l, SCHEMA_USER_EVENTS, 1, 0));
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_PAUSE), 1); /* only the new one */
    assert_int_equal(acts.a[0].partition, 1);
    assert_int_equal(ledger_load_due(l, 0, due, 4), 0); /* worker busy */
    assert_int_equal(ledger_written(l, &a, LEDGER_WRITE_OK, 0), LEDGER_SETTLED);
    assert_int_equal(ledger_load_due(l, 0, due, 4), 1);
    assert_int_equal(due[0]->partition, 1);
    ledger_loaded(l, due[0], 1, 42, 0, &gap);
    ledger_load_done(l, 1, 0);
    acts = apply(l);
    assert_int_equal(acts.n, 1);
    assert_int_equal(acts.a[0].action, LEDGER_SEEK);
    assert_int_equal(acts.a[0].pos, 42);
    batch_free(&a);
    ledger_destroy(l);
}

/* Backpressure pauses every consuming partition until the next seal. */
static void test_backpressure(void **state)
{
    const int64_t stored[2] = {0, 0};
    ledger_t *l = new_ledger();
    actions_t acts;
    batch_t a, b;

    (void)state;
    batch_init(&a);
    batch_init(&b);
    assign_and_load(l, 2, stored, 0);
    feed(l, 0, 0, 3);
    assert_int_equal(ledger_seal(l, &a, 0), 0);
    feed(l, 1, 0, 3);
    ledger_backpressure(l, 1);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_PAUSE), 2);
    assert_false(ledger_settled(l));
    assert_int_equal(ledger_written(l, &a, LEDGER_WRITE_OK, 0), LEDGER_SETTLED);
    assert_int_equal(ledger_seal(l, &b, 0), 0);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_RESUME), 2);
    assert_int_equal(ledger_written(l, &b, LEDGER_WRITE_OK, 0), LEDGER_SETTLED);
    assert_true(ledger_settled(l));
    batch_free(&a);
    batch_free(&b);
    ledger_destroy(l);
}

/* A partition held back (paused) has no known backlog: its cached high
 * watermark stops moving, so evtime must not take it as caught up. */
static void test_backlog_hi_while_paused(void **state)
{
    const int64_t stored[1] = {0};
    ledger_t *l = new_ledger();
    ledger_part_t *p;
    ledger_gap_t gap;
    actions_t acts;
    batch_t a;

    (void)state;
    batch_init(&a);
    assign_and_load(l, 1, stored, 0);
    p = ledger_find(l, SCHEMA_USER_EVENTS, 0);
    feed(l, 0, 0, 3);
    ledger_watermarks(p, 0, 3, 0, &gap);
    assert_int_equal(ledger_backlog_hi(p), 3);
    assert_int_equal(ledger_seal(l, &a, 0), 0);
    ledger_backpressure(l, 1);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_PAUSE), 1);
    ledger_watermarks(p, 0, 3, S, &gap); /* stale: nothing fetched */
    assert_int_equal(ledger_backlog_hi(p), -1);
    assert_int_equal(ledger_written(l, &a, LEDGER_WRITE_OK, S), LEDGER_SETTLED);
    ledger_backpressure(l, 0);
    acts = apply(l);
    assert_int_equal(count(&acts, LEDGER_RESUME), 1);
    assert_int_equal(ledger_backlog_hi(p), 3);
    p = ledger_assign(l, SCHEMA_TRANSACTIONS, 0, 2 * S);
    assert_non_null(p);
    p->hi = 7;
    assert_int_equal(ledger_backlog_hi(p), -1); /* loading its stored offset */
    batch_free(&a);
    ledger_destroy(l);
}

/* Messages of a partition that is not consuming yet (prefetched before the
 * seek) are ignored, never taken as a gap. */
static void test_ignore_until_seek(void **state)
{
    ledger_t *l = new_ledger();
    ledger_part_t *p, *due[1];
    ledger_gap_t gap;

    (void)state;
    p = ledger_assign(l, SCHEMA_USER_EVENTS, 0, 0);
    assert_int_equal(ledger_message(l, p, 900, 0, 1000, &gap), LEDGER_IGNORE);
    assert_int_equal(ledger_load_due(l, 0, due, 1), 1);
    ledger_loaded(l, p, 1, 500, 0, &gap);
    assert_int_equal(ledger_message(l, p, 900, 0, 1000, &gap), LEDGER_IGNORE);
    ledger_load_done(l, 1, 0);
    apply(l);
    assert_int_equal(ledger_message(l, p, 500, 0, 1000, &gap), LEDGER_TAKE);
    assert_null(ledger_assign(l, 7, 0, 0));   /* unknown topic */
    assert_null(ledger_assign(l, 0, -1, 0));  /* bad partition */
    ledger_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lost_commit_resumes),
        cmocka_unit_test(test_health_stall),
        cmocka_unit_test(test_load_failure_retries),
        cmocka_unit_test(test_gaps_and_markers),
        cmocka_unit_test(test_emptied_log),
        cmocka_unit_test(test_other_cluster),
        cmocka_unit_test(test_drop_orphan),
        cmocka_unit_test(test_incremental_assign),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_backlog_hi_while_paused),
        cmocka_unit_test(test_ignore_until_seek),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
