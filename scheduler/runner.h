/*
 * runner.h - running one task's command: /bin/sh -c COMMAND in a process
 * group of its own, stdout and stderr captured together (the last
 * max_output bytes kept), execution_timeout enforced on the whole group
 * (SIGTERM, then SIGKILL after a grace period), and what remains of the
 * group killed once the command has exited. Every wait has a deadline.
 */
#ifndef ECOM_RUNNER_H
#define ECOM_RUNNER_H

#include <stddef.h>
#include <stdint.h>

/* SIGTERM to SIGKILL, for a group over its timeout. */
#define RUNNER_GRACE_MS 5000

typedef struct {
    int exit_status;      /* the command's exit status, or -1 */
    int term_signal;      /* the signal that ended it, or 0 */
    int timed_out;        /* killed for execution_timeout */
    int64_t duration_ms;
    char *output;         /* NUL-terminated, owned: runner_result_free */
    size_t output_len;
    size_t output_dropped; /* bytes before the kept tail */
} runner_result_t;

/* Runs command with env (NULL-terminated "K=V" strings added to the
 * environment; NULL for none) for at most timeout_ms (0: no limit).
 * Returns 0 with *r filled, or -1 when it could not start (errno). */
int runner_run(const char *command, char *const *env, int64_t timeout_ms, size_t max_output,
               runner_result_t *r);

void runner_result_free(runner_result_t *r);

#endif
