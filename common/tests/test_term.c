/*
 * test_term.c - unit tests for common/term.c. The stop flag is process-wide
 * and cannot be cleared, so each scenario runs in a fresh child process and
 * reports through its exit status: 0 when every check passed, otherwise the
 * number of the first check that failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "term.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* In a child: return check number n from the scenario when cond is false. */
#define CHECK(n, cond)                                                         \
    do {                                                                       \
        if (!(cond))                                                           \
            return (n);                                                        \
    } while (0)

static int scenario_initial_state(void)
{
    CHECK(1, term_requested() == 0);
    CHECK(2, term_signal() == 0);
    term_install();
    CHECK(3, term_requested() == 0);
    CHECK(4, term_signal() == 0);
    return 0;
}

static int scenario_request(void)
{
    term_request();
    CHECK(1, term_requested() != 0);
    CHECK(2, term_signal() == 0); /* no signal involved */
    term_request();                /* idempotent */
    CHECK(3, term_requested() != 0);
    return 0;
}

static int scenario_sigterm(void)
{
    term_install();
    CHECK(1, raise(SIGTERM) == 0);
    CHECK(2, term_requested() != 0);
    CHECK(3, term_signal() == SIGTERM);
    return 0;
}

static int scenario_sigint(void)
{
    term_install();
    CHECK(1, raise(SIGINT) == 0);
    CHECK(2, term_requested() != 0);
    CHECK(3, term_signal() == SIGINT);
    return 0;
}

/* A second signal neither kills the process nor changes term_signal(). */
static int scenario_second_signal(void)
{
    term_install();
    CHECK(1, raise(SIGTERM) == 0);
    CHECK(2, raise(SIGINT) == 0);
    CHECK(3, raise(SIGINT) == 0);
    CHECK(4, term_requested() != 0);
    CHECK(5, term_signal() == SIGTERM);
    return 0;
}

/* A signal after term_request() is still recorded. */
static int scenario_request_then_signal(void)
{
    term_install();
    term_request();
    CHECK(1, term_signal() == 0);
    CHECK(2, raise(SIGINT) == 0);
    CHECK(3, term_requested() != 0);
    CHECK(4, term_signal() == SIGINT);
    return 0;
}

/* SIGPIPE is ignored: writing to a pipe without reader fails with EPIPE. */
static int scenario_sigpipe_ignored(void)
{
    struct sigaction old;
    int p[2];

    term_install();
    CHECK(1, sigaction(SIGPIPE, NULL, &old) == 0);
    CHECK(2, old.sa_handler == SIG_IGN);
    CHECK(3, pipe(p) == 0);
    close(p[0]);
    CHECK(4, write(p[1], "x", 1) == -1 && errno == EPIPE);
    close(p[1]);
    CHECK(5, term_requested() == 0);
    return 0;
}

/* The handler does not set SA_RESTART, so a blocking call returns EINTR and
 * the loop gets to look at the flag. A helper process keeps sending SIGTERM
 * until the read is interrupted; alarm() bounds the scenario. */
static int scenario_interrupts_blocking_call(void)
{
    struct sigaction sa;
    pid_t self = getpid();
    pid_t helper;
    ssize_t n;
    char c;
    int p[2];

    term_install();
    memset(&sa, 0, sizeof(sa));
    CHECK(1, sigaction(SIGTERM, NULL, &sa) == 0);
    CHECK(2, (sa.sa_flags & SA_RESTART) == 0);
    CHECK(3, pipe(p) == 0);
    alarm(20);
    helper = fork();
    CHECK(4, helper >= 0);
    if (helper == 0) {
        for (int i = 0; i < 400; i++) {
            usleep(50000);
            if (kill(self, SIGTERM) != 0)
                break;
        }
        _exit(0);
    }
    n = read(p[0], &c, 1);
    kill(helper, SIGKILL);
    waitpid(helper, NULL, 0);
    alarm(0);
    CHECK(5, n == -1 && errno == EINTR);
    CHECK(6, term_requested() != 0);
    CHECK(7, term_signal() == SIGTERM);
    close(p[0]);
    close(p[1]);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(void);
} scenarios[] = {
    {"initial state", scenario_initial_state},
    {"term_request", scenario_request},
    {"raise(SIGTERM)", scenario_sigterm},
    {"raise(SIGINT)", scenario_sigint},
    {"second signal", scenario_second_signal},
    {"request then signal", scenario_request_then_signal},
    {"SIGPIPE ignored", scenario_sigpipe_ignored},
    {"blocking call interrupted", scenario_interrupts_blocking_call},
};

static void test_scenarios(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(scenarios); i++) {
        int status = 0;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(scenarios[i].run());
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status))
            fail_msg("scenario \"%s\": child died (signal %d)", scenarios[i].name,
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        if (WEXITSTATUS(status) != 0)
            fail_msg("scenario \"%s\": check %d failed", scenarios[i].name,
                     WEXITSTATUS(status));
    }
}

/* Without term_install() SIGTERM keeps its default action: the process dies.
 * This shows the scenarios above really exercise the handler. */
static void test_default_action_without_install(void **state)
{
    int status = 0;
    pid_t pid;
    (void)state;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        raise(SIGTERM);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_default_action_without_install),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
