/*
 * dag.h - ecom-scheduler's DAG file: its format, its parsing with every
 * mistake reported by file and line, and the checks a DAG must pass (known
 * upstream tasks, no cycle). Pure: text in, structures out; dag_file_load
 * only reads the file.
 *
 * The format (scheduler/dags.conf), an INI file:
 *
 *   # comment
 *   [dag ecommerce_pipeline]
 *   schedule = @hourly            # cron (scheduler/cron.h), a preset or none
 *   start_date = 2026-12-01       # a day, hour or instant (UTC)
 *   catchup = false
 *   max_active_runs = 1
 *
 *   [task hourly_sales]           # belongs to the [dag] above it
 *   command = ecom-batch hourly-sales --for {{ data_interval_start }}
 *   upstream = other_task, another
 *   retries = 2
 *   retry_delay = 30s             # N, Ns, Nm, Nh
 *   retry_exponential_backoff = true
 *   max_retry_delay = 10m
 *   execution_timeout = 15m
 *   trigger_rule = all_success    # all_success all_failed all_done
 *                                 # one_success one_failed none_failed
 *
 * Defaults as Airflow's: retries 0, retry_delay 300 s, no exponential
 * backoff, max_retry_delay 24 h, no execution_timeout, all_success;
 * catchup true, max_active_runs 16.
 */
#ifndef ECOM_DAG_H
#define ECOM_DAG_H

#include "cron.h"

#include <stddef.h>
#include <stdint.h>

#define DAG_MAX_DAGS 32
#define DAG_MAX_TASKS 64
#define DAG_ID_LEN 64

typedef enum {
    TRIGGER_ALL_SUCCESS,
    TRIGGER_ALL_FAILED,
    TRIGGER_ALL_DONE,
    TRIGGER_ONE_SUCCESS,
    TRIGGER_ONE_FAILED,
    TRIGGER_NONE_FAILED,
} dag_trigger_t;

typedef struct {
    char id[DAG_ID_LEN];
    char *command;               /* owned */
    int upstream[DAG_MAX_TASKS]; /* indexes into the DAG's tasks */
    int n_upstream;
    int retries;
    int64_t retry_delay_ms;
    int retry_exponential_backoff;
    int64_t max_retry_delay_ms;
    int64_t execution_timeout_ms; /* 0: none */
    dag_trigger_t trigger_rule;
    int line;                     /* of its [task] header */
} dag_task_t;

typedef struct {
    char id[DAG_ID_LEN];
    char schedule_text[128];
    cron_t schedule;
    int64_t start_date_ms;
    int catchup;
    int max_active_runs;
    dag_task_t tasks[DAG_MAX_TASKS];
    int n_tasks;
    int line;
} dag_t;

typedef struct {
    dag_t *dags; /* owned, n of them */
    int n;
} dag_file_t;

/* Parses text (name: the file's name in messages). Returns 0, or -1 with
 * "NAME:LINE: what is wrong" in err and *out empty. */
int dag_file_parse(const char *text, const char *name, dag_file_t *out, char *err, size_t errsize);

/* Reads and parses the file at path. */
int dag_file_load(const char *path, dag_file_t *out, char *err, size_t errsize);

void dag_file_free(dag_file_t *f);

/* The DAG named id, or NULL. */
const dag_t *dag_find(const dag_file_t *f, const char *id);

/* The task named id in d, or -1. */
int dag_task_index(const dag_t *d, const char *id);

/* The tasks in an order where every task comes after its upstream ones
 * (ties by file order). order has d->n_tasks entries. */
void dag_topo_order(const dag_t *d, int *order);

/* "all_success", ... */
const char *dag_trigger_name(dag_trigger_t t);

#endif
