/*
 * jobs.h - ecom-batch's jobs as data: each job's name, period kind, the
 * statements that replace one period's rows, and the query its --export
 * writes as CSV. The SQL does the work; batch/run.c runs it.
 *
 * Statement parameters: $1 and $2 are the period's start and end
 * (timestamptz text, UTC), half-open. The export query cannot take
 * parameters (it runs inside COPY): it reads them as
 * current_setting('ecom_batch.lo') and current_setting('ecom_batch.hi'),
 * which run.c sets for the transaction with set_config().
 */
#ifndef ECOM_JOBS_H
#define ECOM_JOBS_H

#include "period.h"

typedef struct {
    const char *name;
    period_kind_t kind;
    const char *table;          /* the table it fills ("" for archive-raw) */
    const char *summary;        /* one line for --help */
    const char *remove;         /* DELETE the period's rows ($1, $2) */
    const char *insert;         /* INSERT them ($1, $2): its count is the rows written */
    const char *export_select;  /* SELECT for --export, ordered */
} job_t;

/* The archive-raw job: its statements are batch/archive.c's own. */
#define JOB_ARCHIVE_RAW "archive-raw"

/* The jobs, in --help order, ending with a NULL name. */
extern const job_t jobs[];

/* The job named name, or NULL. */
const job_t *job_find(const char *name);

#endif
