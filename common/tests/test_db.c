/*
 * test_db.c - unit tests for what common/db.c does without a server: the
 * PostgreSQL array literals (quoting of '"', '\', commas, braces, blanks
 * and the word NULL; integers at their limits; empty arrays; reuse of the
 * buffer). stream/tests/test_sink.c reads the same literals back through a
 * real server, and covers connecting and the deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "db.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void test_text_arrays(void **state)
{
    static const struct {
        const char *elems[4];
        const char *want;
    } cases[] = {
        {{NULL}, "{}"},
        {{"user-events", NULL}, "{\"user-events\"}"},
        {{"a", "b", NULL}, "{\"a\",\"b\"}"},
        {{"say \"hi\"", NULL}, "{\"say \\\"hi\\\"\"}"},
        {{"back\\slash", "\\", NULL}, "{\"back\\\\slash\",\"\\\\\"}"},
        {{"a,b", "{c}", "}", NULL}, "{\"a,b\",\"{c}\",\"}\"}"},
        {{"NULL", "", " x ", NULL}, "{\"NULL\",\"\",\" x \"}"},
        {{"caf\xc3\xa9\t\n", NULL}, "{\"caf\xc3\xa9\t\n\"}"},
    };
    buf_t b;
    (void)state;

    buf_init(&b);
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        db_array_begin(&b); /* resets what the last case left */
        for (size_t k = 0; cases[i].elems[k] != NULL; k++)
            db_array_text(&b, cases[i].elems[k]);
        db_array_end(&b);
        assert_false(b.oom);
        if (strcmp(b.data, cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, b.data, cases[i].want);
        assert_int_equal(b.len, strlen(cases[i].want));
    }
    buf_free(&b);
}

static void test_int_arrays(void **state)
{
    buf_t b;
    (void)state;

    buf_init(&b);
    db_array_begin(&b);
    db_array_int(&b, 0);
    db_array_int(&b, -1);
    db_array_int(&b, INT64_MAX);
    db_array_int(&b, INT64_MIN);
    db_array_end(&b);
    assert_string_equal(b.data, "{0,-1,9223372036854775807,-9223372036854775808}");
    db_array_begin(&b);
    db_array_end(&b);
    assert_string_equal(b.data, "{}");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_arrays),
        cmocka_unit_test(test_int_arrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
