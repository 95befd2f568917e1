/*
 * test_runner.c - one task's process group (scheduler/runner.c) with real
 * short commands: exit status and captured output, the kept tail, extra
 * environment, a timeout that kills the whole group, stragglers of a
 * finished command killed after the drain; a daemon's control (the
 * started callback, cancel), process identity by start time, and killing
 * an earlier scheduler's group only while it is still that group.
 */
#include "runner.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

typedef struct {
    pid_t pid;
    int64_t start;
    atomic_int *cancel;
} seen_t;

static void on_started(void *ctx, pid_t pid, int64_t proc_start)
{
    seen_t *s = ctx;

    s->pid = pid;
    s->start = proc_start;
    atomic_store(s->cancel, 1); /* cancel at once: the group must still end */
}

static void test_ctl_started_and_cancel(void **state)
{
    atomic_int cancel = 0;
    seen_t seen = {0, 0, &cancel};
    runner_ctl_t ctl = {on_started, &seen, &cancel};
    runner_result_t r;
    (void)state;

    assert_int_equal(runner_run_ctl("sleep 30 & sleep 30", NULL, 0, 4096, &ctl, &r), 0);
    assert_true(seen.pid > 0);
    assert_true(seen.start > 0);
    assert_true(r.cancelled);
    assert_false(r.timed_out);
    assert_int_equal(r.term_signal, SIGTERM);
    assert_true(r.duration_ms < 1500);
    assert_false(runner_proc_alive(seen.pid, seen.start)); /* reaped */
    runner_result_free(&r);
}

static void test_proc_identity_and_group_kill(void **state)
{
    int status;
    pid_t pid = fork();
    (void)state;

    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", "sleep 30 & exec sleep 30", (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    int64_t start = runner_proc_start(pid);
    assert_true(start > 0);
    assert_true(runner_proc_alive(pid, start));
    assert_false(runner_proc_alive(pid, start + 1)); /* a reused pid is another process */
    assert_int_equal(runner_kill_group(pid, start + 1), 0); /* not that group: left alone */
    assert_true(runner_proc_alive(pid, start));
    assert_int_equal(runner_kill_group(pid, start), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(runner_proc_start(pid), -1);
    assert_false(runner_proc_alive(pid, start));
    assert_int_equal(runner_kill_group(1, -1), 0); /* never init */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_output),
        cmocka_unit_test(test_output_tail),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_timeout_kills_the_group),
        cmocka_unit_test(test_stragglers_killed),
        cmocka_unit_test(test_ctl_started_and_cancel),
        cmocka_unit_test(test_proc_identity_and_group_kill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
