/*
 * cli.h - ecom-scheduler's commands on the history in PostgreSQL: dags
 * trigger, dags list-runs, tasks clear, backfill (see cli.c). Each returns
 * the process's exit status: 0, 1 when the database failed or refused.
 */
#ifndef ECOM_CLI_H
#define ECOM_CLI_H

#include "dag.h"

#include <stdint.h>

typedef struct {
    const char *conninfo;
    int json;
    int dry_run;
    int downstream;
    const char *state;       /* list-runs --state, or NULL */
    int limit;               /* list-runs --limit */
    const char *conf;        /* trigger --conf (a JSON object, checked) */
    int64_t logical;         /* trigger --logical-date, INT64_MIN: now */
    int64_t from, to;        /* [from, to): clear and backfill */
    int reprocess;           /* backfill: 0 none, 1 failed, 2 all */
} cli_opts_t;

int cli_trigger(const dag_t *d, const cli_opts_t *o);
int cli_list_runs(const dag_t *d, const cli_opts_t *o);
/* Clears the task instances of tasks matching task_regex (POSIX ERE,
 * already compiled into the mask), with --downstream their downstream
 * ones too, in runs with logical dates in [from, to). */
int cli_clear(const dag_t *d, const int *mask, const cli_opts_t *o);
int cli_backfill(const dag_t *d, const cli_opts_t *o);

#endif
