/*
 * test_elog.c - unit tests for common/elog.c: level names, elog_init with
 * LOG_LEVEL, and the lines themselves, captured by pointing stderr at a pipe:
 * layout (timestamp, daemon, level, message), level gating that skips
 * argument evaluation, and truncation of oversized messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elog.h"
#include "ts.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- stderr capture ---- */

static int saved_stderr = -1;
static int capture_fd = -1;

static void capture_begin(void)
{
    int p[2];

    assert_int_equal(pipe(p), 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);
    close(p[1]);
    capture_fd = p[0];
}

/* Restores stderr and returns what was written (malloc'ed, NUL-terminated).
 * Everything fits in the pipe buffer: the tests write a few KB at most. */
static char *capture_end(void)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t n;

    assert_non_null(buf);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    while ((n = read(capture_fd, buf + len, cap - len)) > 0)
        len += (size_t)n;
    close(capture_fd);
    capture_fd = -1;
    buf[len] = '\0';
    return buf;
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* ---- level names ---- */

static const struct {
    const char *name;
    int rc;
    elog_level_t level;
} level_cases[] = {
    {"error", 0, ELOG_ERROR},
    {"ERROR", 0, ELOG_ERROR},
    {"warn", 0, ELOG_WARN},
    {"warning", 0, ELOG_WARN},
    {"WARNING", 0, ELOG_WARN},
    {"info", 0, ELOG_INFO},
    {"Info", 0, ELOG_INFO},
    {"debug", 0, ELOG_DEBUG},
    {"DEBUG", 0, ELOG_DEBUG},
    {"", -1, 0},
    {"trace", -1, 0},
    {"err", -1, 0},
    {"warnings", -1, 0},
    {"info ", -1, 0},
    {" info", -1, 0},
    {"debugx", -1, 0},
    {"3", -1, 0},
};

static void test_parse_level(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(level_cases); i++) {
        elog_level_t got = (elog_level_t)99;
        int rc = elog_parse_level(level_cases[i].name, &got);
        elog_level_t want = level_cases[i].rc == 0 ? level_cases[i].level
                                                   : (elog_level_t)99;

        if (rc != level_cases[i].rc || got != want)
            fail_msg("level \"%s\": rc %d level %d, want rc %d level %d",
                     level_cases[i].name, rc, (int)got, level_cases[i].rc, (int)want);
    }
}

/* LOG_LEVEL value (NULL: unset), level set before elog_init, expected
 * return and level after. */
static const struct {
    const char *env;
    elog_level_t before;
    int rc;
    elog_level_t after;
    int warns;
} init_cases[] = {
    {"debug", ELOG_INFO, 0, ELOG_DEBUG, 0},
    {"error", ELOG_INFO, 0, ELOG_ERROR, 0},
    {"Warning", ELOG_DEBUG, 0, ELOG_WARN, 0},
    {NULL, ELOG_INFO, 0, ELOG_INFO, 0},
    {"", ELOG_INFO, 0, ELOG_INFO, 0},
    {"bogus", ELOG_INFO, -1, ELOG_INFO, 1},
    /* an unknown name falls back to info, as the warning says */
    {"bogus", ELOG_DEBUG, -1, ELOG_INFO, 1},
    {"bogus", ELOG_ERROR, -1, ELOG_INFO, 1},
};

static void test_init_log_level(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(init_cases); i++) {
        char *out;
        int rc;

        if (init_cases[i].env != NULL)
            setenv("LOG_LEVEL", init_cases[i].env, 1);
        else
            unsetenv("LOG_LEVEL");
        elog_set_level(init_cases[i].before);
        capture_begin();
        rc = elog_init("test-elog");
        out = capture_end();
        if (rc != init_cases[i].rc || elog_get_level() != init_cases[i].after)
            fail_msg("LOG_LEVEL \"%s\": rc %d level %d, want rc %d level %d",
                     init_cases[i].env ? init_cases[i].env : "(unset)", rc,
                     (int)elog_get_level(), init_cases[i].rc, (int)init_cases[i].after);
        if (init_cases[i].warns) {
            if (strstr(out, " test-elog WARN: invalid LOG_LEVEL \"bogus\", using \"info\"\n") ==
                    NULL ||
                count_char(out, '\n') != 1)
                fail_msg("LOG_LEVEL \"%s\": warning line is \"%s\"", init_cases[i].env, out);
        } else if (out[0] != '\0') {
            fail_msg("LOG_LEVEL \"%s\": unexpected output \"%s\"",
                     init_cases[i].env ? init_cases[i].env : "(unset)", out);
        }
        free(out);
        assert_string_equal(elog_daemon_name(), "test-elog");
    }
    unsetenv("LOG_LEVEL");
    elog_set_level(ELOG_INFO);
}

/* ---- lines ---- */

static void test_line_layout(void **state)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    regex_t re;
    (void)state;

    assert_int_equal(regcomp(&re,
                             "^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                             "\\.[0-9]{3}Z) ecom-test ([A-Z]+): hello 42 \"quoted\"\n$",
                             REG_EXTENDED),
                     0);
    unsetenv("LOG_LEVEL");
    elog_init("ecom-test");
    elog_set_level(ELOG_DEBUG);
    for (int lvl = ELOG_ERROR; lvl <= ELOG_DEBUG; lvl++) {
        regmatch_t m[3];
        int64_t before = ts_now_ms(), after, stamp = 0;
        char *out;
        char text[32];

        capture_begin();
        switch (lvl) {
        case ELOG_ERROR: LOG_ERROR("hello %d \"%s\"", 42, "quoted"); break;
        case ELOG_WARN: LOG_WARN("hello %d \"%s\"", 42, "quoted"); break;
        case ELOG_INFO: LOG_INFO("hello %d \"%s\"", 42, "quoted"); break;
        default: LOG_DEBUG("hello %d \"%s\"", 42, "quoted"); break;
        }
        out = capture_end();
        after = ts_now_ms();
        if (regexec(&re, out, 3, m, 0) != 0)
            fail_msg("level %d: line \"%s\" does not match", lvl, out);
        snprintf(text, sizeof(text), "%.*s", (int)(m[2].rm_eo - m[2].rm_so), out + m[2].rm_so);
        assert_string_equal(text, names[lvl]);
        snprintf(text, sizeof(text), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), out + m[1].rm_so);
        assert_int_equal(ts_parse_rfc3339(text, &stamp), 0);
        assert_true(stamp >= before && stamp <= after);
        free(out);
    }
    regfree(&re);
}

static int evaluations;

static int side_effect(void)
{
    return ++evaluations;
}

/* Current level, level logged at, whether a line appears. */
static const struct {
    elog_level_t current;
    elog_level_t at;
    int shown;
} gate_cases[] = {
    {ELOG_ERROR, ELOG_ERROR, 1}, {ELOG_ERROR, ELOG_WARN, 0},
    {ELOG_ERROR, ELOG_INFO, 0},  {ELOG_ERROR, ELOG_DEBUG, 0},
    {ELOG_WARN, ELOG_ERROR, 1},  {ELOG_WARN, ELOG_WARN, 1},
    {ELOG_WARN, ELOG_INFO, 0},   {ELOG_WARN, ELOG_DEBUG, 0},
    {ELOG_INFO, ELOG_ERROR, 1},  {ELOG_INFO, ELOG_WARN, 1},
    {ELOG_INFO, ELOG_INFO, 1},   {ELOG_INFO, ELOG_DEBUG, 0},
    {ELOG_DEBUG, ELOG_ERROR, 1}, {ELOG_DEBUG, ELOG_WARN, 1},
    {ELOG_DEBUG, ELOG_INFO, 1},  {ELOG_DEBUG, ELOG_DEBUG, 1},
};

/* A disabled level neither writes nor evaluates its arguments. */
static void test_level_gating(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(gate_cases); i++) {
        char *out;

        elog_set_level(gate_cases[i].current);
        assert_int_equal(elog_get_level(), gate_cases[i].current);
        evaluations = 0;
        capture_begin();
        switch (gate_cases[i].at) {
        case ELOG_ERROR: LOG_ERROR("value %d", side_effect()); break;
        case ELOG_WARN: LOG_WARN("value %d", side_effect()); break;
        case ELOG_INFO: LOG_INFO("value %d", side_effect()); break;
        default: LOG_DEBUG("value %d", side_effect()); break;
        }
        ELOG_AT(gate_cases[i].at, "again %d", side_effect());
        out = capture_end();
        if (evaluations != 2 * gate_cases[i].shown ||
            count_char(out, '\n') != 2 * gate_cases[i].shown)
            fail_msg("gate case %zu (level %d, at %d): %d evaluations, output \"%s\"", i,
                     (int)gate_cases[i].current, (int)gate_cases[i].at, evaluations, out);
        if (gate_cases[i].shown &&
            (strstr(out, ": value 1\n") == NULL || strstr(out, ": again 2\n") == NULL))
            fail_msg("gate case %zu: output \"%s\"", i, out);
        free(out);
    }
    elog_set_level(ELOG_INFO);
}

/* Oversized messages are cut to one 4095-byte line ending in '\n'. */
static void test_long_message_truncated(void **state)
{
    static char big[10000];
    char *out;
    size_t len;
    (void)state;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    elog_set_level(ELOG_INFO);
    capture_begin();
    LOG_INFO("%s", big);
    LOG_INFO("short");
    out = capture_end();
    len = strcspn(out, "\n");
    assert_int_equal(len + 1, 4095);
    assert_int_equal(count_char(out, '\n'), 2);
    assert_non_null(strstr(out + len + 1, " INFO: short\n"));
    free(out);
}

/* The daemon name is copied and cut to 63 bytes. */
static void test_daemon_name(void **state)
{
    char name[100];
    char *out;
    (void)state;

    unsetenv("LOG_LEVEL");
    snprintf(name, sizeof(name), "%s", "temporary");
    elog_init(name);
    snprintf(name, sizeof(name), "%s", "overwritten");
    assert_string_equal(elog_daemon_name(), "temporary");

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    elog_init(name);
    assert_int_equal(strlen(elog_daemon_name()), 63);
    capture_begin();
    elog_write(ELOG_WARN, "direct %s", "write");
    out = capture_end();
    name[63] = '\0';
    assert_non_null(strstr(out, name));
    assert_non_null(strstr(out, " WARN: direct write\n"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_level),
        cmocka_unit_test(test_init_log_level),
        cmocka_unit_test(test_line_layout),
        cmocka_unit_test(test_level_gating),
        cmocka_unit_test(test_long_message_truncated),
        cmocka_unit_test(test_daemon_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
