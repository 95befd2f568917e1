/*
 * test_buf.c - unit tests for common/buf.c: appends of every kind keep data
 * NUL-terminated and len exact, growth past many doublings, printf output
 * longer than the first reservation, reset keeps the memory, truncate, and
 * the out-of-memory contract (oom set, later appends dropped, reset clears
 * it), driven by a size no allocator can satisfy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"

static void test_appends(void **state)
{
    buf_t b;
    (void)state;

    buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    buf_append(&b, "", 0); /* allocates: data is a C string from now on */
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_append(&b, "ab\0cd", 5);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "ab\0cd", 6);
    buf_reset(&b);
    buf_putc(&b, 'x');
    buf_puts(&b, "yz");
    buf_printf(&b, "-%d-%s", 42, "q");
    assert_string_equal(b.data, "xyz-42-q");
    assert_int_equal(b.len, strlen("xyz-42-q"));
    assert_false(b.oom);
    buf_free(&b);
}

static void test_growth(void **state)
{
    char expect[16];
    buf_t b;
    (void)state;

    buf_init(&b);
    for (int i = 0; i < 100000; i++)
        buf_printf(&b, "%05d,", i % 100000);
    assert_false(b.oom);
    assert_int_equal(b.len, 600000);
    assert_true(b.cap > b.len);
    assert_int_equal(strlen(b.data), b.len);
    snprintf(expect, sizeof(expect), "%05d,", 99999);
    assert_memory_equal(b.data + b.len - 6, expect, 6);
    assert_memory_equal(b.data + 6 * 12345, "12345,", 6);
    buf_free(&b);
}

/* Output longer than the 64 bytes buf_vprintf reserves first, at the edge
 * of the capacity, so the redo path runs. */
static void test_printf_redo(void **state)
{
    char big[1000];
    buf_t b;
    (void)state;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (size_t prefix = 0; prefix < 300; prefix += 37) {
        buf_init(&b);
        for (size_t i = 0; i < prefix; i++)
            buf_putc(&b, 'p');
        buf_printf(&b, "[%s]", big);
        assert_false(b.oom);
        assert_int_equal(b.len, prefix + sizeof(big) + 1);
        assert_int_equal(strlen(b.data), b.len);
        assert_int_equal(b.data[prefix], '[');
        assert_int_equal(b.data[b.len - 1], ']');
        buf_free(&b);
    }
}

static void test_reset_truncate_free(void **state)
{
    buf_t b;
    char *first;
    size_t cap;
    (void)state;

    buf_init(&b);
    buf_reset(&b); /* an empty buffer */
    assert_null(b.data);
    buf_truncate(&b, 0);
    buf_puts(&b, "hello world");
    buf_truncate(&b, 5);
    assert_string_equal(b.data, "hello");
    buf_truncate(&b, 50); /* longer than the content: ignored */
    assert_int_equal(b.len, 5);
    first = b.data;
    cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_puts(&b, "again");
    assert_ptr_equal(b.data, first);
    assert_int_equal(b.cap, cap);
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    buf_free(&b); /* twice is harmless */
    buf_free(NULL);
}

static void test_oom(void **state)
{
    buf_t b;
    (void)state;

    buf_init(&b);
    buf_puts(&b, "kept");
    assert_int_equal(buf_reserve(&b, SIZE_MAX - 2), -1);
    assert_true(b.oom);
    assert_int_equal(buf_reserve(&b, SIZE_MAX / 2 - 2), -1);
    buf_puts(&b, " dropped");
    buf_printf(&b, "%s", " dropped");
    buf_putc(&b, '!');
    assert_int_equal(buf_reserve(&b, 1), -1); /* sticky, though it would fit */
    assert_string_equal(b.data, "kept");
    assert_int_equal(b.len, 4);
    buf_reset(&b);
    assert_false(b.oom);
    buf_puts(&b, "ok");
    assert_string_equal(b.data, "ok");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_printf_redo),
        cmocka_unit_test(test_reset_truncate_free),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
