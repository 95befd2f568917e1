/*
 * test_preagg.c - the grouping of user-event COPY rows (stream/preagg.c):
 * rows written with the batch's own COPY helpers, as stream/rows.c writes
 * them, and the groups and sessions compared as COPY text. No database.
 */
#include "batch.h"
#include "preagg.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define W 30000 /* window, ms */
/* 2026-12-02T00:00:00Z, a multiple of W. */
#define T0 INT64_C(1796169600000)

typedef struct {
    const char *user, *type, *product, *name, *category, *session;
    int64_t ms, cents; /* cents < 0: no price (NULL) */
    int late;
} ev_t;

static void add_row(batch_buf_t *b, const ev_t *e)
{
    char stamp[TS_RFC3339_LEN];

    batch_field(b, 1, "e-id");
    batch_field(b, 0, e->user);
    batch_field(b, 0, e->type);
    batch_field(b, 0, ts_format_rfc3339(e->ms, stamp));
    batch_field(b, 0, e->product);
    batch_field(b, 0, e->name);
    batch_field(b, 0, e->category);
    if (e->cents < 0)
        batch_field(b, 0, NULL);
    else
        batch_field_cents(b, 0, e->cents);
    batch_field(b, 0, NULL);
    batch_field(b, 0, e->session);
    batch_field(b, 0, "10.0.0.1");
    batch_field(b, 0, "agent");
    batch_field_int(b, 0, 0);
    batch_field_int(b, 0, 7);
    batch_field(b, 0, e->late ? "t" : "f");
    batch_end_row(b);
}

static int run(preagg_t *p, const ev_t *evs, size_t n)
{
    batch_buf_t b;
    int rc;

    memset(&b, 0, sizeof(b));
    buf_init(&b.buf);
    for (size_t i = 0; i < n; i++)
        add_row(&b, &evs[i]);
    assert_false(b.buf.oom);
    rc = preagg_user_events(p, b.buf.data, b.buf.len, W);
    buf_free(&b.buf);
    return rc;
}

static void groups_by_window_and_product(void **state)
{
    (void)state;
    /* Exactly at a window's start, 1 ms before its end, and the next
     * window's start; the same product in two categories; a search (no
     * product, no price); a late event. */
    const ev_t evs[] = {
        {"U1", "product_view", "P1", "Shoe", "Sports", "S1", T0, 1999, 0},
        {"U1", "product_view", "P1", "Shoe", "Sports", "S1", T0 + W - 1, 2500, 0},
        {"U2", "product_view", "P1", "Shoe", "Sports", "S2", T0 + W, 1999, 0},
        {"U2", "add_to_cart", "P1", "Shoe", "Outdoor", "S2", T0 + 5, 1999, 0},
        {"U3", "search", NULL, NULL, NULL, "S3", T0 + 7, -1, 0},
        {"U1", "product_view", "P1", "Shoe", "Sports", "S9", T0 + 3, 99999, 1},
    };
    preagg_t p;

    preagg_init(&p);
    assert_int_equal(run(&p, evs, sizeof(evs) / sizeof(evs[0])), 0);
    assert_string_equal(p.groups.data,
                        "2026-12-02T00:00:00.000Z\tf\tproduct_view\tP1\tShoe\tSports\t2\t"
                        "2026-12-02T00:00:29.999Z\t25.00\n"
                        "2026-12-02T00:00:30.000Z\tf\tproduct_view\tP1\tShoe\tSports\t1\t"
                        "2026-12-02T00:00:30.000Z\t19.99\n"
                        "2026-12-02T00:00:00.000Z\tf\tadd_to_cart\tP1\tShoe\tOutdoor\t1\t"
                        "2026-12-02T00:00:00.005Z\t19.99\n"
                        "2026-12-02T00:00:00.000Z\tf\tsearch\t\\N\t\\N\t\\N\t1\t"
                        "2026-12-02T00:00:00.007Z\t\\N\n"
                        "2026-12-02T00:00:00.000Z\tt\tproduct_view\tP1\tShoe\tSports\t1\t"
                        "2026-12-02T00:00:00.003Z\t999.99\n");
    assert_int_equal(p.group_rows, 5);
    /* On-time (window, user, session) once each; the late one's S9 not. */
    assert_string_equal(p.sessions.data, "2026-12-02T00:00:00.000Z\tU1\tS1\n"
                                         "2026-12-02T00:00:30.000Z\tU2\tS2\n"
                                         "2026-12-02T00:00:00.000Z\tU2\tS2\n"
                                         "2026-12-02T00:00:00.000Z\tU3\tS3\n");
    assert_int_equal(p.session_rows, 4);
    preagg_free(&p);
}

static void keeps_escapes_and_reuses_state(void **state)
{
    (void)state;
    /* A name with a tab and a backslash stays one escaped field; a user
     * without a session (NULL) is a member of its own. */
    const ev_t first[] = {
        {"U1", "product_view", "P2", "a\tb\\c", "Home", NULL, T0 + 1, 100, 0},
        {"U1", "product_view", "P2", "a\tb\\c", "Home", NULL, T0 + 2, 50, 0},
    };
    const ev_t second[] = {
        {"U4", "add_to_cart", "P3", "Lamp", "Home", "S4", T0 - 1, 0, 0},
    };
    preagg_t p;

    preagg_init(&p);
    assert_int_equal(run(&p, first, 2), 0);
    assert_string_equal(p.groups.data, "2026-12-02T00:00:00.000Z\tf\tproduct_view\tP2\ta\\tb\\\\c\tHome\t2\t"
                                       "2026-12-02T00:00:00.002Z\t1.00\n");
    assert_string_equal(p.sessions.data, "2026-12-02T00:00:00.000Z\tU1\t\\N\n");
    /* A second batch starts empty: nothing of the first is left. */
    assert_int_equal(run(&p, second, 1), 0);
    assert_string_equal(p.groups.data, "2026-12-01T23:59:30.000Z\tf\tadd_to_cart\tP3\tLamp\tHome\t1\t"
                                       "2026-12-01T23:59:59.999Z\t0.00\n");
    assert_string_equal(p.sessions.data, "2026-12-01T23:59:30.000Z\tU4\tS4\n");
    assert_int_equal(p.group_rows, 1);
    assert_int_equal(p.session_rows, 1);
    preagg_free(&p);
}

static void refuses_rows_it_does_not_know(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a\tb\tc\n",                                                                     /* fields */
        "e\tU\tv\tnot-a-time\tP\tN\tC\t1.00\t\\N\tS\tip\tua\t0\t1\tf\n",                 /* time */
        "e\tU\tv\t2026-12-02T00:00:00.000Z\tP\tN\tC\t1.0\t\\N\tS\tip\tua\t0\t1\tf\n",   /* price */
        "e\tU\tv\t2026-12-02T00:00:00.000Z\tP\tN\tC\t1.00\t\\N\tS\tip\tua\t0\t1\tx\n",  /* late */
        "e\tU\tv\t2026-12-02T00:00:00.000Z\tP\tN\tC\t1.00\t\\N\tS\tip\tua\t0\t1\tf",    /* no \n */
        "e\tU\tv\t2026-12-02T00:00:00.000Z\tP\tN\tC\t1.00\t\\N\tS\tip\tua\t0\t1\tf\tx\n", /* extra */
    };
    const char good[] = "e\tU\tv\t2026-12-02T00:00:00.000Z\tP\tN\tC\t-1.05\t\\N\tS\tip\tua\t0\t1\tf\n";
    preagg_t p;

    preagg_init(&p);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(preagg_user_events(&p, bad[i], strlen(bad[i]), W), -1);
    assert_int_equal(preagg_user_events(&p, good, strlen(good), 0), -1);
    assert_int_equal(preagg_user_events(&p, good, strlen(good), W), 0);
    assert_string_equal(p.groups.data, "2026-12-02T00:00:00.000Z\tf\tv\tP\tN\tC\t1\t2026-12-02T00:00:00.000Z\t-1.05\n");
    assert_int_equal(preagg_user_events(&p, "", 0, W), 0);
    assert_int_equal(p.groups.len, 0);
    assert_int_equal(p.sessions.len, 0);
    preagg_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(groups_by_window_and_product),
        cmocka_unit_test(keeps_escapes_and_reuses_state),
        cmocka_unit_test(refuses_rows_it_does_not_know),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
