/*
 * test_astate.c - the alerts' life (astate.c) on a fake clock: pending
 * until the for-duration, fired once, repeated on the interval, resolved
 * once; a failed evaluation resolving nothing; pending alerts vanishing
 * silently; rules kept apart; a set restored from saved rows (a restart)
 * not firing again.
 */
#include "astate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define S 1000

/* One evaluation of rule "lag" at now, with active instances keys (NULL-ended). */
static int round_at(ast_set_t *s, int64_t now, int ok, const char *const *keys, ast_event_t *ev)
{
    ast_begin(s, "lag");
    for (; ok && keys != NULL && *keys != NULL; keys++)
        assert_int_equal(ast_observe(s, "lag", *keys, "{}", 5, "behind", now), 0);
    return ast_end(s, "lag", ok, 30 * S, 300 * S, now, ev, 16);
}

static void test_life(void **state)
{
    static const char *const g[] = {"g1", NULL};
    ast_event_t ev[16];
    ast_set_t s;

    (void)state;
    ast_init(&s);
    assert_int_equal(round_at(&s, 0, 1, g, ev), 0); /* pending */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.v[0].state, AST_PENDING);
    assert_int_equal(round_at(&s, 29 * S, 1, g, ev), 0);
    assert_int_equal(round_at(&s, 30 * S, 1, g, ev), 1); /* for: 30 s */
    assert_int_equal(ev[0].kind, AST_FIRED);
    assert_string_equal(ev[0].alert.key, "g1");
    assert_int_equal(round_at(&s, 40 * S, 1, g, ev), 0); /* fired once */
    assert_int_equal(round_at(&s, 329 * S, 1, g, ev), 0);
    assert_int_equal(round_at(&s, 330 * S, 1, g, ev), 1); /* repeat: 300 s after the firing */
    assert_int_equal(ev[0].kind, AST_REPEATED);
    assert_int_equal(round_at(&s, 340 * S, 0, NULL, ev), 0); /* the source failed: nothing resolves */
    assert_int_equal(s.n, 1);
    assert_int_equal(round_at(&s, 350 * S, 1, NULL, ev), 1); /* gone: resolved, once */
    assert_int_equal(ev[0].kind, AST_RESOLVED);
    assert_int_equal(ev[0].alert.fired_at, 30 * S);
    assert_int_equal(s.n, 0);
    assert_int_equal(round_at(&s, 360 * S, 1, NULL, ev), 0);
    ast_free(&s);
}

static void test_pending_vanishes(void **state)
{
    static const char *const g[] = {"g1", "g2", NULL}, *const g2[] = {"g2", NULL};
    ast_event_t ev[16];
    ast_set_t s;

    (void)state;
    ast_init(&s);
    assert_int_equal(round_at(&s, 0, 1, g, ev), 0);
    assert_int_equal(round_at(&s, 10 * S, 1, g2, ev), 0); /* g1 gone while pending: no event */
    assert_int_equal(s.n, 1);
    assert_int_equal(round_at(&s, 30 * S, 1, g2, ev), 1); /* g2 since 0 s: fires */
    assert_string_equal(ev[0].alert.key, "g2");
    /* Another rule's evaluation leaves "lag" alone. */
    ast_begin(&s, "other");
    assert_int_equal(ast_end(&s, "other", 1, 0, S, 40 * S, ev, 16), 0);
    assert_int_equal(s.n, 1);
    ast_free(&s);
}

static void test_restart(void **state)
{
    static const char *const g[] = {"g1", NULL};
    ast_event_t ev[16];
    ast_set_t s;

    (void)state;
    ast_init(&s);
    /* What astore_load rebuilds: a firing alert last sent at 100 s. */
    assert_int_equal(ast_observe(&s, "lag", "g1", "{}", 5, "behind", 0), 0);
    s.v[0].state = AST_FIRING;
    s.v[0].fired_at = s.v[0].last_sent = 100 * S;
    assert_int_equal(round_at(&s, 120 * S, 1, g, ev), 0); /* not fired again */
    assert_int_equal(round_at(&s, 400 * S, 1, g, ev), 1);
    assert_int_equal(ev[0].kind, AST_REPEATED);
    ast_free(&s);
}

static void test_event_cap(void **state)
{
    ast_event_t ev[2];
    ast_set_t s;
    char key[8];

    (void)state;
    ast_init(&s);
    ast_begin(&s, "f");
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ast_observe(&s, "f", key, "{}", i, "x", 0), 0);
    }
    assert_int_equal(ast_end(&s, "f", 1, 0, S, 0, ev, 2), 2); /* the rest waits */
    ast_begin(&s, "f");
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ast_observe(&s, "f", key, "{}", i, "x", 10), 0);
    }
    assert_int_equal(ast_end(&s, "f", 1, 0, S, 10, ev, 2), 2);
    assert_string_equal(ev[0].alert.key, "k2");
    ast_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_life),
        cmocka_unit_test(test_pending_vanishes),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_event_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
