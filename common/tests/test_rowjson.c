/*
 * test_rowjson.c - COPY text rows to JSON lines (common/rowjson.c): every
 * column kind, NULLs, COPY's escapes, JSON's escapes, timestamps in
 * row_to_json()'s form, and rows with the wrong number of fields.
 */
#include "rowjson.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const char *const names[] = {"id", "n", "price", "ok", "doc", "at", "label"};
/* uuid, int4, numeric, bool, jsonb, timestamptz, text */
static const unsigned oids[] = {2950, 23, 1700, 16, 3802, 1184, 25};

static void expect_line(const char *row, const char *want)
{
    rowjson_t *rj = rowjson_new(7, names, oids);
    buf_t out;

    assert_non_null(rj);
    buf_init(&out);
    assert_int_equal(rowjson_row(rj, row, strlen(row), &out), 0);
    assert_false(out.oom);
    assert_string_equal(out.data, want);
    buf_free(&out);
    rowjson_free(rj);
}

static void test_kinds(void **state)
{
    (void)state;
    expect_line("3f1c0000-0000-0000-0000-000000000001\t42\t12.50\tt\t{\"city\": \"Chicago\"}\t"
                "2026-11-10 00:00:00.000108+00\tplain\n",
                "{\"id\":\"3f1c0000-0000-0000-0000-000000000001\",\"n\":42,\"price\":12.50,\"ok\":true,"
                "\"doc\":{\"city\": \"Chicago\"},\"at\":\"2026-11-10T00:00:00.000108+00:00\","
                "\"label\":\"plain\"}\n");
    /* No trailing newline; negative numbers; false; an offset with minutes. */
    expect_line("a\t-7\t-0.5\tf\t[]\t2026-11-10 05:30:00+05:30\tx",
                "{\"id\":\"a\",\"n\":-7,\"price\":-0.5,\"ok\":false,\"doc\":[],"
                "\"at\":\"2026-11-10T05:30:00+05:30\",\"label\":\"x\"}\n");
}

static void test_nulls_and_special_numbers(void **state)
{
    (void)state;
    expect_line("\\N\t\\N\tNaN\t\\N\t\\N\t\\N\t\\N\n",
                "{\"id\":null,\"n\":null,\"price\":\"NaN\",\"ok\":null,\"doc\":null,\"at\":null,"
                "\"label\":null}\n");
    expect_line("a\t1\t-Infinity\tt\tnull\tinfinity\t",
                "{\"id\":\"a\",\"n\":1,\"price\":\"-Infinity\",\"ok\":true,\"doc\":null,"
                "\"at\":\"infinity\",\"label\":\"\"}\n");
}

static void test_escapes(void **state)
{
    (void)state;
    /* COPY's \t \n \\ decoded, then JSON-escaped; quotes and control bytes
     * escaped; a json value's escaped line breaks become spaces; an
     * octal escape decoded. */
    expect_line("a\t1\t1\tt\t{\\n  \"k\": \"v\\\\\\\\n\"\\n}\t2026-01-01 00:00:00+00\t"
                "tab\\there\\nquote\" back\\\\slash \001 \\101\n",
                "{\"id\":\"a\",\"n\":1,\"price\":1,\"ok\":true,\"doc\":{   \"k\": \"v\\\\n\" },"
                "\"at\":\"2026-01-01T00:00:00+00:00\","
                "\"label\":\"tab\\there\\nquote\\\" back\\\\slash \\u0001 A\"}\n");
}

static void test_wrong_field_count(void **state)
{
    rowjson_t *rj = rowjson_new(7, names, oids);
    buf_t out;
    (void)state;

    buf_init(&out);
    assert_int_equal(rowjson_row(rj, "a\t1\n", 4, &out), -1);
    buf_reset(&out);
    assert_int_equal(rowjson_row(rj, "a\t1\t2\tt\t1\tx\ty\tz\n", 17, &out), -1);
    buf_free(&out);
    rowjson_free(rj);
}

static void test_key_escaping(void **state)
{
    static const char *const odd[] = {"we\"ird"};
    static const unsigned text[] = {25};
    rowjson_t *rj = rowjson_new(1, odd, text);
    buf_t out;
    (void)state;

    buf_init(&out);
    assert_int_equal(rowjson_row(rj, "v\n", 2, &out), 0);
    assert_string_equal(out.data, "{\"we\\\"ird\":\"v\"}\n");
    buf_free(&out);
    rowjson_free(rj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_nulls_and_special_numbers),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_wrong_field_count),
        cmocka_unit_test(test_key_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
