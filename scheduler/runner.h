/*
 * runner.h - running one task's command: /bin/sh -c COMMAND in a process
 * group of its own, stdout and stderr captured together (the last
 * max_output bytes kept), execution_timeout enforced on the whole group
 * (SIGTERM, then SIGKILL after a grace period), and what remains of the
 * group killed once the command has exited. Every wait has a deadline.
 */
#ifndef ECOM_RUNNER_H
#define ECOM_RUNNER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* SIGTERM to SIGKILL, for a group over its timeout. */
#define RUNNER_GRACE_MS 5000

typedef struct {
    int exit_status;      /* the command's exit status, or -1 */
    int term_signal;      /* the signal that ended it, or 0 */
    int timed_out;        /* killed for execution_timeout */
    int cancelled;        /* ended because ctl->cancel was set */
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

/* What a daemon adds to a run: started is called (on the calling thread)
 * once the group exists, with its leader's pid and /proc start time; once
 * *cancel is non-zero the group is ended as for a timeout (SIGTERM, SIGKILL
 * after RUNNER_GRACE_MS), seen within 100 ms. */
typedef struct {
    void (*started)(void *ctx, pid_t pid, int64_t proc_start);
    void *ctx;
    const atomic_int *cancel;
} runner_ctl_t;

/* runner_run with ctl (NULL: none). */
int runner_run_ctl(const char *command, char *const *env, int64_t timeout_ms, size_t max_output,
                   const runner_ctl_t *ctl, runner_result_t *r);

void runner_result_free(runner_result_t *r);

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks
 * since boot), or -1 when there is no such process. A pid and its start
 * time name one process: pids are reused, the pair is not. */
int64_t runner_proc_start(pid_t pid);

/* Whether process pid is alive and started at proc_start (a zombie, one
 * that has exited, counts as gone). */
int runner_proc_alive(pid_t pid, int64_t proc_start);

/* Kills (SIGKILL) what is left of the process group led by pgid, a task's
 * group from an earlier scheduler: unless a different process now has the
 * leader's pid (then the group is someone else's and is left alone).
 * Returns the number of the group's processes that were signalled as far
 * as kill() tells (1 when any was, 0 when the group is gone). */
int runner_kill_group(pid_t pgid, int64_t proc_start);

#endif
