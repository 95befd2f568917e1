/*
 * plan.h - ecom-scheduler's decisions, apart from the clock, the database
 * and the processes (STYLE.md §12): which DAG runs are due (data
 * intervals, catchup, backfill ranges), what a task may do given its
 * upstream tasks' states (trigger rules), how long a retry waits, and a
 * DAG run's state. Pure: instants are numbers passed in.
 *
 * Data intervals follow Airflow: a scheduled run covers [start, end), where
 * start is a fire time of the schedule and end the next one; it becomes
 * due once end has passed, and its logical date is start. The first
 * interval starts at the first fire time at or after the DAG's start_date.
 * @once: one run, logical date start_date, interval [start_date,
 * start_date], due from start_date on. none: never due by itself.
 */
#ifndef ECOM_PLAN_H
#define ECOM_PLAN_H

#include "dag.h"

#include <stddef.h>
#include <stdint.h>

/* Task instance states, as Airflow names them. */
typedef enum {
    TI_NONE,          /* not yet scheduled */
    TI_SCHEDULED,
    TI_QUEUED,
    TI_RUNNING,
    TI_SUCCESS,
    TI_FAILED,
    TI_UP_FOR_RETRY,
    TI_UPSTREAM_FAILED,
    TI_SKIPPED,
} plan_ti_state_t;

typedef enum { RUN_QUEUED, RUN_RUNNING, RUN_SUCCESS, RUN_FAILED } plan_run_state_t;

const char *plan_ti_state_name(plan_ti_state_t s);
const char *plan_run_state_name(plan_run_state_t s);
/* -1 for an unknown name. */
int plan_ti_state_parse(const char *name);
int plan_run_state_parse(const char *name);

/* Terminal: success, failed, upstream_failed, skipped. */
int plan_ti_done(plan_ti_state_t s);

/* The end of the interval starting at start (start itself for @once). */
int64_t plan_interval_end(const dag_t *d, int64_t start);

/* The interval starts that are due at now and come after last_start
 * (INT64_MIN: no run yet), oldest first, at most max of them (the oldest
 * ones). Without catchup only the latest due interval (if after
 * last_start). Returns how many were written to starts. */
int plan_due(const dag_t *d, int64_t last_start, int64_t now, int64_t *starts, int max);

/* When the next scheduled run after last_start (INT64_MIN: none yet)
 * becomes due: the end of its interval (for @once, start_date), at or
 * before now when one is due already; INT64_MAX when none ever will. */
int64_t plan_next_due(const dag_t *d, int64_t last_start, int64_t now);

/* The data interval of a run triggered by hand at logical date logical,
 * as Airflow infers it: the latest interval complete at that moment
 * ([09:00, 10:00) for an hourly DAG triggered at 10:23); [logical,
 * logical] for @once, none, or before the first interval. */
void plan_manual_interval(const dag_t *d, int64_t logical, int64_t *start, int64_t *end);

/* The interval starts of a backfill: every one whose start is in
 * [from, to] and whose end has passed at now. Returns how many. */
int plan_backfill(const dag_t *d, int64_t from, int64_t to, int64_t now, int64_t *starts, int max);

/* What task i of d may do, given every task's state in the run. */
typedef enum {
    PLAN_WAIT,             /* an upstream task is not done (or the rule needs more) */
    PLAN_RUN,              /* schedule it */
    PLAN_UPSTREAM_FAILED,  /* mark it upstream_failed */
    PLAN_SKIP,             /* mark it skipped */
} plan_verdict_t;

plan_verdict_t plan_task(const dag_t *d, int i, const plan_ti_state_t *states);

/* The wait before try number try_number (2 for the first retry) of t:
 * retry_delay, doubled for each earlier retry with exponential backoff,
 * capped by max_retry_delay. */
int64_t plan_retry_delay(const dag_task_t *t, int try_number);

/* The run's state: running while a task is not done; then failed when a
 * leaf task (no task downstream of it) failed or is upstream_failed, else
 * success. */
plan_run_state_t plan_run_state(const dag_t *d, const plan_ti_state_t *states);

/* Whether a queued or running task instance is a zombie, Airflow's word
 * for a try whose scheduler is gone: claimed by this scheduler with no try
 * of its running (a commit whose result was lost), its scheduler ended
 * (a clean exit leaves nothing claimed), its scheduler's process gone (on
 * this host, where that can be seen), or its scheduler silent for longer
 * than threshold_ms. */
typedef enum { ZOMBIE_NO, ZOMBIE_UNOWNED, ZOMBIE_ENDED, ZOMBIE_GONE, ZOMBIE_SILENT } plan_zombie_t;

typedef struct {
    int ours;               /* claimed by this scheduler */
    int ours_running;       /* ...and one of its tries is running it */
    int ended;              /* its scheduler's row says it ended */
    int same_host;          /* its scheduler ran on this host */
    int alive;              /* ...and that process is alive (same_host only) */
    int64_t silent_ms;      /* since its scheduler's last heartbeat */
} plan_claim_t;

plan_zombie_t plan_zombie(const plan_claim_t *c, int64_t threshold_ms);
const char *plan_zombie_reason(plan_zombie_t z);

/* What a backfill does with an interval, given the state of the run at
 * its logical date (NULL: none) and --reprocess (0 none, 1 failed, 2
 * all): "create", "skip" (queued or running runs always, finished ones
 * unless reprocessed), "rerun_failed" (failed: its failed and
 * upstream_failed tasks) or "rerun" (all: every task). */
const char *plan_backfill_action(const char *run_state, int reprocess);

/* What a task's command may name, as Airflow's templates: {{ ds }}
 * (YYYY-MM-DD of the logical date), {{ ds_nodash }}, {{ ts }} (the logical
 * date, ISO 8601), {{ data_interval_start }}, {{ data_interval_end }}
 * (ISO 8601), {{ dag_id }}, {{ task_id }}. */
typedef struct {
    const char *dag_id, *task_id;
    int64_t start, end; /* the data interval */
} plan_context_t;

/* Writes command with its placeholders filled in to out (outsize bytes).
 * Returns 0, or -1 with the reason in err (an unknown placeholder, an
 * unclosed one, or no room). */
int plan_render(const char *command, const plan_context_t *ctx, char *out, size_t outsize, char *err,
                size_t errsize);

#endif
