/*
 * store.h - ecom-scheduler's history in PostgreSQL (sql/scheduler.sql):
 * the scheduler's own row and heartbeat, one DAG's scheduling decisions in
 * one transaction under its lock row (zombies, new runs, runs started,
 * task instances advanced and claimed), each try's start and end, and what
 * the CLI asks for (trigger, list-runs, clear, backfill). The decisions
 * themselves are plan.c's; this file reads their inputs and writes their
 * outcome. Instants are epoch milliseconds of the scheduler's clock.
 */
#ifndef ECOM_STORE_H
#define ECOM_STORE_H

#include "dag.h"
#include "runner.h"

#include <libpq-fe.h>
#include <stdint.h>

typedef struct {
    PGconn *conn;
    int64_t job_id;          /* scheduler_jobs.id; 0 for the CLI */
    char hostname[256];
    int64_t zombie_ms;       /* a scheduler silent this long is dead */
    /* Whether this scheduler is running the try (a claim of ours with no
     * thread behind it, after a lost commit, is handed back). */
    int (*owns)(void *ctx, const char *dag_id, const char *run_id, const char *task_id, int try_number);
    void *owns_ctx;
} store_t;

/* A task instance this scheduler claimed: the loop starts its try. */
typedef struct {
    char run_id[96], task_id[64];
    int task_index, try_number;
    int64_t start, end;      /* the run's data interval */
    char *command;           /* rendered, owned by the caller after the tick */
    char *conf;              /* the run's conf (JSON), owned likewise */
} store_claim_t;

#define STORE_MAX_CLAIMS 64

/* v as a text parameter, in buf. Returns buf. */
const char *store_i64(char buf[24], int64_t v);

int store_register(store_t *st);
int store_heartbeat(store_t *st);
/* Marks this scheduler ended (a clean exit: its claims are free at once). */
int store_end(store_t *st);
/* Makes sure every DAG of f has its lock row. */
int store_sync_dags(store_t *st, const dag_file_t *f);

/* One scheduling pass over DAG d at now, claiming at most max_claims task
 * instances (no more than the executor's free slots). Returns the number
 * of claims written to claims, 0 when another scheduler holds the DAG, or
 * -1 on a database error (rolled back, logged). *next_ms: when the DAG
 * next needs a pass by the clock alone; *active: whether it has runs
 * queued or running (what other schedulers do to those needs a look now
 * and then; a DAG without any changes only by the clock or a NOTIFY). */
int store_tick(store_t *st, const dag_t *d, int64_t now, store_claim_t *claims, int max_claims,
               int64_t *next_ms, int *active);

/* A try's process started: the task instance becomes running. */
int store_try_started(store_t *st, const char *dag_id, const char *run_id, const char *task_id, int try_number,
                      pid_t pid, int64_t proc_start);

/* How a try ended. */
typedef enum { TRY_SUCCESS, TRY_FAILED, TRY_TIMEOUT, TRY_HANDED_BACK } store_outcome_t;

/* A try ended: its history row and the task instance's next state
 * (success; up_for_retry with the delay of plan_retry_delay when tries
 * are left, else failed; or, handed back, scheduled again without using
 * up a try). 1 when written, 0 when the claim was no longer ours (taken
 * over as a zombie), -1 on error. */
int store_try_ended(store_t *st, const dag_t *d, int task_index, const char *run_id, int try_number,
                    store_outcome_t outcome, const runner_result_t *r, int64_t now);

/* Wakes the schedulers listening (after the CLI changed something). */
void store_notify(store_t *st, const char *dag_id);

/* Creates a run (queued) with its task instances. type: "scheduled",
 * "manual" or "backfill". 1 when created, 0 when a run with that logical
 * date (or run_id) exists, -1 on error. run_id (96 bytes) receives its id. */
int store_create_run(store_t *st, const dag_t *d, const char *type, int64_t logical, int64_t start,
                     int64_t end, const char *conf, char *run_id);

#endif
