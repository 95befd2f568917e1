/*
 * run.h - running one period of an ecom-batch job against PostgreSQL: the
 * transaction that replaces the period's rows, the --export file, the
 * batch_runs record, and archive-raw's hour and retention steps
 * (batch/archive.c).
 *
 * Every run of a period is one REPEATABLE READ transaction: the job's
 * DELETE and INSERT, the export (which reads the rows just written), and
 * the batch_runs row of its success commit together. A failure rolls back
 * and records the failure (job, period, error) in a transaction of its own.
 * The connection's session runs in UTC.
 */
#ifndef ECOM_RUN_H
#define ECOM_RUN_H

#include "jobs.h"

#include <libpq-fe.h>
#include <stdint.h>

typedef struct {
    const char *lake_root; /* the data lake's root directory */
    int export_csv;        /* --export: write aggregated/<job>/<period>.csv */
    int gzip_level;        /* archive-raw's gzip level, 1..12 (libdeflate) */
} run_opts_t;

typedef struct {
    long long rows;        /* rows written (archive-raw: rows archived) */
    long long files;       /* lake files written */
    int64_t bytes;         /* their size */
} run_result_t;

/* Runs job for the period starting at lo and ending at hi. Returns 0, or
 * -1 after logging the reason and recording it (when PostgreSQL still
 * answers); *fatal is set when the connection is lost or a stop was
 * requested (no point in running the next period). */
int run_period(PGconn *conn, const job_t *job, int64_t lo, int64_t hi, const run_opts_t *o,
               run_result_t *r, int *fatal);

/* archive-raw for one hour (archive.c): the three topics' files and their
 * lake_archives rows. Called by run_period() inside its transaction, with
 * the hour's bounds as its statements' text parameters (bounds) and its
 * start (lo). Returns 0, or -1 with the reason in err. */
int archive_hour(PGconn *conn, const char *const bounds[2], int64_t lo, const run_opts_t *o,
                 run_result_t *r, char *err, size_t errsize);

/* archive-raw --drop-before: drops the raw tables' daily partitions of
 * every day before before_day (epoch ms of a UTC midnight), oldest first,
 * through ecom_drop_archived_day() (sql/batch.sql), each day in its own
 * transaction and recorded in batch_runs as job "drop-archived". Stops at
 * the first day it may not drop. Returns the number of days dropped, or
 * -1 (logged, recorded). */
int archive_drop_before(PGconn *conn, int64_t before_day);

/* Records a run in batch_runs in a transaction of its own. error NULL
 * means success. Returns 0 or -1 (logged). */
int run_record(PGconn *conn, const char *job, int64_t lo, int64_t hi, long long rows,
               int64_t started_ms, int64_t duration_ms, const char *error);

/* The connection's last error into err, without its trailing newline. */
void run_conn_error(PGconn *conn, char *err, size_t errsize);

#endif
