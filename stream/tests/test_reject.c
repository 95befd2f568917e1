/*
 * test_reject.c - unit tests of stream/reject.c without PostgreSQL: which
 * SQLSTATEs are rejections; the bisect plan driven by an oracle that
 * rejects a range when it holds a bad message (every good message written
 * exactly once, every bad one rejected alone, nothing else; the number of
 * tries within its bound) over tables of batches: one bad message in
 * 20,000, the first and the last, every message, none, dense and sparse
 * patterns, and every single position in small batches; an oracle whose
 * errors are not about one message (written, not dead-lettered); and the
 * warning limiter.
 */
#include "reject.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_sqlstates(void **state)
{
    static const struct {
        const char *sqlstate;
        int rejection;
    } cases[] = {
        {"23514", 1}, /* check_violation */
        {"23502", 1}, /* not_null_violation */
        {"23503", 1}, /* foreign_key_violation */
        {"23505", 1}, /* unique_violation past ON CONFLICT */
        {"23P01", 1}, /* exclusion_violation */
        {"22003", 1}, /* numeric_value_out_of_range */
        {"22001", 1}, /* string_data_right_truncation */
        {"22P02", 1}, /* invalid_text_representation */
        {"22021", 1}, /* character_not_in_repertoire (invalid byte sequence) */
        {"22007", 1}, /* invalid_datetime_format */
        {"22008", 1}, /* datetime_field_overflow */
        {"54000", 1}, /* program_limit_exceeded: index row too large */
        {"54001", 0}, /* statement_too_complex */
        {"08006", 0}, /* connection_failure */
        {"08000", 0},
        {"40001", 0}, /* serialization_failure */
        {"40P01", 0}, /* deadlock_detected */
        {"57014", 0}, /* query_canceled: statement_timeout */
        {"57P01", 0}, /* admin_shutdown */
        {"57P03", 0}, /* cannot_connect_now */
        {"53100", 0}, /* disk_full */
        {"53200", 0}, /* out_of_memory */
        {"55P03", 0}, /* lock_not_available */
        {"25P02", 0}, /* in_failed_sql_transaction */
        {"42501", 0}, /* insufficient_privilege */
        {"42P01", 0}, /* undefined_table */
        {"42804", 0}, /* datatype_mismatch: the statement, not a row */
        {"XX000", 0}, /* internal_error */
        {"P0001", 0}, /* raise_exception from a trigger: its own choice */
        {"2", 0},
        {"", 0},
        {"235140", 0},
        {NULL, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (reject_sqlstate_is_rejection(cases[i].sqlstate) != cases[i].rejection)
            fail_msg("SQLSTATE %s: expected %d", cases[i].sqlstate ? cases[i].sqlstate : "NULL",
                     cases[i].rejection);
}

/* An oracle over n messages: a range is rejected when it holds a bad one
 * (bad[i]), or, with pair_lo < pair_hi, when it holds both pair messages
 * (an error that is about no single message). */
typedef struct {
    size_t n;
    const unsigned char *bad;
    size_t pair_lo, pair_hi;
    unsigned char *written; /* times each message was in a written range */
    unsigned char *rejected;
} oracle_t;

static int oracle_ok(const oracle_t *o, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        if (o->bad != NULL && o->bad[i])
            return 0;
    if (o->pair_lo < o->pair_hi && lo <= o->pair_lo && o->pair_hi < hi)
        return 0;
    return 1;
}

/* Runs a plan to the end; returns the number of tries. */
static size_t run_plan(oracle_t *o)
{
    reject_plan_t p;
    size_t lo = 0, hi = 0, tries = 0;

    o->written = calloc(o->n + 1, 1);
    o->rejected = calloc(o->n + 1, 1);
    assert_non_null(o->written);
    assert_non_null(o->rejected);
    reject_plan_init(&p, o->n);
    while (reject_plan_next(&p, &lo, &hi)) {
        int ok;

        assert_true(lo < hi);
        assert_true(hi <= o->n);
        {
            size_t lo2 = lo, hi2 = hi; /* no second range while one is out */
            assert_false(reject_plan_next(&p, &lo2, &hi2));
            assert_true(lo2 == lo && hi2 == hi);
        }
        tries++;
        assert_true(tries <= 4 * o->n + 4);
        ok = oracle_ok(o, lo, hi);
        if (ok)
            for (size_t i = lo; i < hi; i++)
                o->written[i]++;
        if (reject_plan_result(&p, ok)) {
            assert_int_equal(hi - lo, 1);
            assert_false(ok);
            o->rejected[lo]++;
        }
    }
    assert_int_equal(p.tries, tries);
    assert_int_equal(p.written + p.rejected, o->n);
    return tries;
}

/* Every message written once or rejected once, never both; the rejected
 * ones are exactly the bad ones. */
static void check_outcome(const oracle_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        int bad = o->bad != NULL && o->bad[i];
        if (o->written[i] + o->rejected[i] != 1 || o->rejected[i] != bad)
            fail_msg("message %zu of %zu (bad %d): written %d times, rejected %d times", i, o->n, bad,
                     o->written[i], o->rejected[i]);
    }
}

static void free_oracle(oracle_t *o)
{
    free(o->written);
    free(o->rejected);
}

static size_t ceil_log2(size_t n)
{
    size_t l = 0;
    while (((size_t)1 << l) < n)
        l++;
    return l;
}

/* reject.h's bound: every rejected message costs at most two tries per
 * halving and the singles of its small range; none (a flaky rejection of
 * the whole) one try per halving and the singles. */
static size_t max_tries(size_t n, size_t k)
{
    if (k == 0)
        return ceil_log2(n) + REJECT_PLAN_SINGLES;
    return k * (2 * ceil_log2(n) + REJECT_PLAN_SINGLES);
}

typedef enum { NONE, ONE_AT, FIRST_LAST, ALL, EVERY_K, FIRST_HALF } pattern_t;

static void test_patterns(void **state)
{
    static const struct {
        size_t n;
        pattern_t pattern;
        size_t arg;
        size_t max_tries; /* 0: the bound k * (2 log2 n + 1) */
    } cases[] = {
        {1, ALL, 0, 1},          /* the single message, tried alone */
        {1, NONE, 0, 1},         /* a flaky rejection: tried alone, written */
        {2, ALL, 0, 2},
        {2, FIRST_LAST, 0, 2},
        {3, FIRST_LAST, 0, 3},
        {7, ALL, 0, 7},          /* small: one by one */
        {8, ONE_AT, 3, 8},
        {9, ALL, 0, 11},         /* halves of 4 and 5, both tried, then singles */
        {20000, ONE_AT, 0, 0},
        {20000, ONE_AT, 19999, 0},
        {20000, ONE_AT, 12345, 0},
        {20000, FIRST_LAST, 0, 0},
        {20000, ALL, 0, 29000},  /* about 1.4 n, never 2 n */
        {20000, EVERY_K, 1000, 0},
        {20000, EVERY_K, 2, 0},
        {1000, FIRST_HALF, 0, 0},
        {20000, NONE, 0, 0},
    };

    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t n = cases[c].n, k = 0, tries, bound;
        unsigned char *bad = calloc(n, 1);
        oracle_t o = {n, bad, 0, 0, NULL, NULL};

        assert_non_null(bad);
        for (size_t i = 0; i < n; i++) {
            switch (cases[c].pattern) {
            case NONE: break;
            case ONE_AT: bad[i] = i == cases[c].arg; break;
            case FIRST_LAST: bad[i] = i == 0 || i == n - 1; break;
            case ALL: bad[i] = 1; break;
            case EVERY_K: bad[i] = i % cases[c].arg == 0; break;
            case FIRST_HALF: bad[i] = i < n / 2; break;
            }
            k += bad[i];
        }
        tries = run_plan(&o);
        check_outcome(&o);
        bound = cases[c].max_tries ? cases[c].max_tries : max_tries(n, k);
        if (tries > bound)
            fail_msg("case %zu (n %zu, %zu bad): %zu tries, bound %zu", c, n, k, tries, bound);
        print_message("n %zu, %zu rejected: %zu tries (bound %zu)\n", n, k, tries, bound);
        free_oracle(&o);
        free(bad);
    }
}

/* Every position of one bad message, and every pair, in small batches. */
static void test_exhaustive_small(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 33; n++) {
        unsigned char bad[33];

        for (size_t a = 0; a < n; a++) {
            for (size_t b = a; b < n; b++) {
                oracle_t o = {n, bad, 0, 0, NULL, NULL};
                size_t k = a == b ? 1 : 2;

                memset(bad, 0, sizeof(bad));
                bad[a] = bad[b] = 1;
                assert_true(run_plan(&o) <= max_tries(n, k));
                check_outcome(&o);
                free_oracle(&o);
            }
        }
    }
}

/* A batch rejected only while two messages are written together: the plan
 * ends with both written (in different ranges), none dead-lettered. */
static void test_not_about_one_message(void **state)
{
    static const size_t pairs[][3] = {{16, 0, 15}, {16, 3, 4}, {16, 7, 8}, {100, 10, 90}, {5, 0, 4}};

    (void)state;
    for (size_t c = 0; c < sizeof(pairs) / sizeof(pairs[0]); c++) {
        oracle_t o = {pairs[c][0], NULL, pairs[c][1], pairs[c][2], NULL, NULL};

        run_plan(&o);
        check_outcome(&o); /* bad is NULL: nothing may be rejected */
        free_oracle(&o);
    }
}

/* Drives a plan by hand: expects the next range [lo, hi), answers ok, and
 * checks whether the range was judged rejected. */
static void step(reject_plan_t *p, size_t lo, size_t hi, int ok, int judged)
{
    size_t l = 0, h = 0;

    assert_true(reject_plan_next(p, &l, &h));
    if (l != lo || h != hi)
        fail_msg("next range [%zu, %zu), expected [%zu, %zu)", l, h, lo, hi);
    assert_false(reject_plan_next(p, &l, &h)); /* owes a result */
    assert_int_equal(reject_plan_result(p, ok), judged);
}

static void test_plan_edges(void **state)
{
    reject_plan_t p;
    size_t lo = 7, hi = 7;

    (void)state;
    reject_plan_init(&p, 0);
    assert_false(reject_plan_next(&p, &lo, &hi));
    assert_int_equal(lo, 7);
    assert_false(reject_plan_result(&p, 0)); /* nothing handed out */

    /* 18 messages, 11 bad: the whole batch already failed, so its left
     * half first; written, so the right half holds the bad one and is
     * halved without a try of its own; [9, 13) fails: four singles. */
    reject_plan_init(&p, 18);
    step(&p, 0, 9, 1, 0);
    assert_false(reject_plan_result(&p, 1)); /* a second result is ignored */
    step(&p, 9, 13, 0, 0);
    step(&p, 9, 10, 1, 0);
    step(&p, 10, 11, 1, 0);
    step(&p, 11, 12, 0, 1);
    step(&p, 12, 13, 1, 0);
    step(&p, 13, 18, 1, 0); /* [9, 13) failed: [13, 18) is tried whole */
    assert_false(reject_plan_next(&p, &lo, &hi));
    assert_int_equal(p.tries, 7);
    assert_int_equal(p.written, 17);
    assert_int_equal(p.rejected, 1);

    /* 4 messages: small enough to go one by one at once */
    reject_plan_init(&p, 4);
    step(&p, 0, 1, 1, 0);
    step(&p, 1, 2, 0, 1);
    step(&p, 2, 3, 0, 1);
    step(&p, 3, 4, 1, 0);
    assert_false(reject_plan_next(&p, &lo, &hi));
    assert_int_equal(p.rejected, 2);
}

static void test_limiter(void **state)
{
    reject_limit_t l = {0, 0, 0};
    int64_t t = 1000;
    int logged = 0;

    (void)state;
    for (int i = 0; i < 25; i++)
        logged += reject_limit_take(&l, t + i);
    assert_int_equal(logged, REJECT_LOG_BURST);
    assert_int_equal(reject_limit_skipped(&l), 25 - REJECT_LOG_BURST);
    assert_int_equal(reject_limit_skipped(&l), 0);
    assert_false(reject_limit_take(&l, t + REJECT_LOG_WINDOW_US - 1));
    assert_true(reject_limit_take(&l, t + REJECT_LOG_WINDOW_US)); /* a new window */
    assert_int_equal(reject_limit_skipped(&l), 1);
    logged = 1;
    for (int i = 0; i < 25; i++)
        logged += reject_limit_take(&l, t + REJECT_LOG_WINDOW_US + i);
    assert_int_equal(logged, REJECT_LOG_BURST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlstates),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_exhaustive_small),
        cmocka_unit_test(test_not_about_one_message),
        cmocka_unit_test(test_plan_edges),
        cmocka_unit_test(test_limiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
