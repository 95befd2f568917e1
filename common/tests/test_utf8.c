/*
 * test_utf8.c - unit tests for common/utf8.c: a table of byte strings that
 * are or are not text (every sequence length, overlong forms, surrogates,
 * beyond U+10FFFF, truncation, NUL), character lengths read within their
 * bound, and cuts that never split a character.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "utf8.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *bytes;
    size_t len; /* 0: strlen */
    int text;
} text_cases[] = {
    {"", 0, 1},
    {"plain ASCII", 0, 1},
    {"caf\xc3\xa9", 0, 1},
    {"\xe2\x82\xac", 0, 1},             /* U+20AC */
    {"\xf0\x9f\x98\x80", 0, 1},         /* U+1F600 */
    {"\xf4\x8f\xbf\xbf", 0, 1},         /* U+10FFFF */
    {"\xed\x9f\xbf", 0, 1},             /* U+D7FF, below the surrogates */
    {"\xc3", 0, 0},                     /* truncated */
    {"\xe2\x82", 0, 0},                 /* truncated */
    {"\xc0\xaf", 0, 0},                 /* overlong '/' */
    {"\xe0\x80\xaf", 0, 0},             /* overlong */
    {"\xf0\x80\x80\xaf", 0, 0},         /* overlong */
    {"\xed\xa0\x80", 0, 0},             /* U+D800, a surrogate */
    {"\xf4\x90\x80\x80", 0, 0},         /* beyond U+10FFFF */
    {"\xff", 0, 0},
    {"\x80", 0, 0},                     /* stray continuation byte */
    {"a\xc3(", 0, 0},                   /* lead byte, then no continuation */
    {"nul\0inside", 10, 0},
    {"\0", 1, 0},
};

static void test_is_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(text_cases); i++) {
        size_t len = text_cases[i].len ? text_cases[i].len : strlen(text_cases[i].bytes);
        if (utf8_is_text(text_cases[i].bytes, len) != text_cases[i].text)
            fail_msg("case %zu: expected %d", i, text_cases[i].text);
    }
}

static void test_char_len(void **state)
{
    const unsigned char euro[] = {0xe2, 0x82, 0xac};
    (void)state;

    assert_int_equal(utf8_char_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(utf8_char_len((const unsigned char *)"", 1), 1); /* NUL is a character */
    assert_int_equal(utf8_char_len(euro, 3), 3);
    /* The bound is respected: a sequence longer than what is left is not
     * a character (nothing past avail is read; ASan checks). */
    assert_int_equal(utf8_char_len(euro, 2), 0);
    assert_int_equal(utf8_char_len(euro, 0), 0);
    assert_int_equal(utf8_char_len(euro + 1, 2), 0);
}

static void test_cut(void **state)
{
    /* "a" U+00E9 U+20AC U+1F600 "z": bytes 0 | 1-2 | 3-5 | 6-9 | 10 */
    static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
    static const size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11, 11};
    const size_t len = sizeof(s) - 1;
    (void)state;

    for (size_t max = 0; max < N_ELEMS(want); max++) {
        size_t n = utf8_cut(s, len, max);
        if (n != want[max])
            fail_msg("cut at %zu: got %zu, want %zu", max, n, want[max]);
        assert_true(utf8_is_text(s, n));
    }
    assert_int_equal(utf8_cut(s, 5, 100), 5); /* shorter than max: all of it */
    /* Not text: still never more than max. */
    assert_int_equal(utf8_cut("\x80\x80\x80\x80\x80", 5, 4), 1);
    assert_int_equal(utf8_cut("\xff\xff", 2, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_text),
        cmocka_unit_test(test_char_len),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
