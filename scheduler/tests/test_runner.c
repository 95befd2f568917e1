/*
 * test_runner.c - one task's process group (scheduler/runner.c) with real
 * short commands: exit status and captured output, the kept tail, extra
 * environment, a timeout that kills the whole group, and stragglers of a
 * finished command killed after the drain.
 */
#include "runner.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void test_status_and_output(void **state)
{
    runner_result_t r;
    (void)state;

    assert_int_equal(runner_run("echo out; echo err >&2; exit 3", NULL, 0, 4096, &r), 0);
    assert_int_equal(r.exit_status, 3);
    assert_int_equal(r.term_signal, 0);
    assert_false(r.timed_out);
    assert_string_equal(r.output, "out\nerr\n");
    runner_result_free(&r);
}

static void test_output_tail(void **state)
{
    runner_result_t r;
    (void)state;

    assert_int_equal(runner_run("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done", NULL, 0, 100, &r), 0);
    assert_int_equal(r.exit_status, 0);
    assert_int_equal(r.output_len, 100);
    assert_true(r.output_dropped > 10000);
    assert_non_null(strstr(r.output, "line1999\n"));
    runner_result_free(&r);
}

static void test_env(void **state)
{
    char *env[] = {"ECOM_TEST_VALUE=bar baz", NULL};
    runner_result_t r;
    (void)state;

    assert_int_equal(runner_run("printf '%s' \"$ECOM_TEST_VALUE\"", env, 0, 100, &r), 0);
    assert_string_equal(r.output, "bar baz");
    runner_result_free(&r);
}

/* Gone, or a zombie nobody reaped yet (orphans go to init, which in a
 * container may be slow or absent): either way no longer running. */
static int gone(pid_t pid)
{
    char path[64], stat[256];
    FILE *fp;
    char *paren;
    int is_zombie = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return 1;
    if (fgets(stat, sizeof(stat), fp) != NULL && (paren = strrchr(stat, ')')) != NULL)
        is_zombie = paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
    fclose(fp);
    return is_zombie;
}

/* The pid the command printed first. */
static pid_t printed_pid(const runner_result_t *r)
{
    return (pid_t)strtol(r->output, NULL, 10);
}

static void test_timeout_kills_the_group(void **state)
{
    runner_result_t r;
    pid_t child;
    (void)state;

    assert_int_equal(runner_run("sleep 30 & echo $!; sleep 30", NULL, 300, 4096, &r), 0);
    assert_true(r.timed_out);
    assert_int_equal(r.term_signal, SIGTERM);
    assert_true(r.duration_ms >= 300 && r.duration_ms < 3000);
    child = printed_pid(&r);
    assert_true(child > 0);
    usleep(100 * 1000); /* SIGKILL delivery */
    assert_true(gone(child)); /* the background sleep went too */
    runner_result_free(&r);
}

static void test_stragglers_killed(void **state)
{
    runner_result_t r;
    pid_t child;
    (void)state;

    /* The command exits at once; its background child holds the pipe. */
    assert_int_equal(runner_run("sleep 30 & echo $!", NULL, 0, 4096, &r), 0);
    assert_int_equal(r.exit_status, 0);
    assert_false(r.timed_out);
    assert_true(r.duration_ms < 3000);
    child = printed_pid(&r);
    assert_true(child > 0);
    usleep(100 * 1000); /* SIGKILL delivery */
    assert_true(gone(child));
    runner_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_output),
        cmocka_unit_test(test_output_tail),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_timeout_kills_the_group),
        cmocka_unit_test(test_stragglers_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
