/*
 * term.c - the process-wide stop flag (see term.h).
 */
#include "term.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t stop_signal;

/* Keeps the first signal: a second SIGINT/SIGTERM during shutdown changes
 * nothing, so term_signal() still names what started the stop. */
static void on_signal(int sig)
{
    if (stop_signal == 0)
        stop_signal = sig;
    stop_flag = 1;
}

void term_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int term_requested(void) { return stop_flag; }
void term_request(void) { stop_flag = 1; }
int term_signal(void) { return stop_signal; }
