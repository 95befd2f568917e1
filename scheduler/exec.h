/*
 * exec.h - ecom-scheduler's executor (Airflow's LocalExecutor): up to
 * `parallelism` task tries at once, each on a thread of its own that runs
 * the command through runner.c. The daemon's loop owns the database; the
 * threads only run processes. They tell the loop through slots it scans
 * after exec_wait(): a try that has started (its pid, for the history and
 * for zombie detection) and a try that has ended (its result).
 */
#ifndef ECOM_EXEC_H
#define ECOM_EXEC_H

#include "runner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define EXEC_MAX_SLOTS 64

typedef struct {
    /* Set by the loop before exec_start; read-only afterwards. */
    char dag_id[64], run_id[96], task_id[64];
    int try_number;
    char *command;            /* owned (freed by exec_release) */
    char *env[4];             /* owned: ECOM_DATA_INTERVAL_START/END, ECOM_DAG_RUN_CONF */
    int64_t timeout_ms;
    size_t max_output;
    /* Written by the thread. */
    atomic_int started, done;
    pid_t pid;
    int64_t proc_start;
    int start_failed;         /* could not start (errno in start_errno) */
    int start_errno;
    runner_result_t result;
    /* The loop's. */
    atomic_int cancel;
    int in_use, started_seen;
    pthread_t thread;
} exec_slot_t;

typedef struct {
    exec_slot_t slots[EXEC_MAX_SLOTS];
    int n;                    /* parallelism */
    int wake[2];              /* a byte per event, read by exec_wait */
} exec_t;

int exec_init(exec_t *e, int parallelism);
void exec_destroy(exec_t *e);  /* all slots released first */

/* A free slot (cleared), or NULL. The caller fills it and calls exec_start. */
exec_slot_t *exec_slot(exec_t *e);
int exec_running(const exec_t *e);
/* Starts the slot's thread. Returns 0, or -1 (the slot is freed). */
int exec_start(exec_t *e, exec_slot_t *s);
/* Waits until an event or timeout_ms (at most) passes, or fd (-1: none)
 * is readable. */
void exec_wait(exec_t *e, int fd, int timeout_ms);
/* Joins a done slot's thread and frees the slot. */
void exec_release(exec_slot_t *s);
/* Asks every running try to end (SIGTERM to its group, SIGKILL later). */
void exec_cancel_all(exec_t *e);

#endif
