/*
 * run.c - one period of an ecom-batch job (see run.h): the replacing
 * transaction, the CSV export and the batch_runs record.
 */
#include "run.h"
#include "db.h"
#include "elog.h"
#include "lake.h"
#include "term.h"
#include "ts.h"

#include <stdio.h>
#include <string.h>

void run_conn_error(PGconn *conn, char *err, size_t errsize)
{
    size_t n;

    snprintf(err, errsize, "%s", PQerrorMessage(conn));
    n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

int run_record(PGconn *conn, const char *job, int64_t lo, int64_t hi, long long rows,
               int64_t started_ms, int64_t duration_ms, const char *error)
{
    char slo[TS_RFC3339_LEN], shi[TS_RFC3339_LEN], sstart[TS_RFC3339_LEN], srows[24], sdur[24];
    const char *params[7] = {job, slo, shi, error == NULL ? srows : NULL, sdur, error, sstart};
    PGresult *res;

    ts_format_rfc3339(lo, slo);
    ts_format_rfc3339(hi, shi);
    ts_format_rfc3339(started_ms, sstart);
    snprintf(srows, sizeof(srows), "%lld", rows);
    snprintf(sdur, sizeof(sdur), "%lld", (long long)duration_ms);
    res = db_run(conn, "could not record the run in batch_runs",
                 "INSERT INTO batch_runs (job, period_start, period_end, rows_written, duration_ms,"
                 " status, error, started_at)"
                 " VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::text IS NULL THEN 'success' ELSE 'failed' END,"
                 " $6, $7)",
                 7, params, PGRES_COMMAND_OK);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

/* COPY rows straight into a lake file. */
static int to_lake(void *ctx, const char *row, size_t len)
{
    return lake_write(ctx, row, len);
}

/* --export: the period's rows as CSV with a header, under
 * aggregated/<job>/<label>.csv. */
static int export_csv(PGconn *conn, const job_t *job, int64_t lo, const run_opts_t *o,
                      run_result_t *r, char *err, size_t errsize)
{
    char label[PERIOD_LABEL_LEN], rel[256], sql[2048];
    lake_file_t *f;
    long long copied = 0;
    int64_t bytes = 0;

    snprintf(rel, sizeof(rel), "aggregated/%s/%s.csv", job->name, period_label(job->kind, lo, label));
    snprintf(sql, sizeof(sql), "COPY (%s) TO STDOUT WITH (FORMAT csv, HEADER)", job->export_select);
    if ((f = lake_open(o->lake_root, rel, 0, err, errsize)) == NULL)
        return -1;
    if (db_copy_out(conn, sql, to_lake, f, &copied) != 0) {
        snprintf(err, errsize, "exporting %s failed: %s", rel, PQerrorMessage(conn));
        lake_abort(f);
        return -1;
    }
    if (lake_commit(f, &bytes, err, errsize) != 0)
        return -1;
    r->files++;
    r->bytes += bytes;
    return 0;
}

/* The job's statements inside the open transaction. */
static int replace_period(PGconn *conn, const job_t *job, const char *const params[2],
                          int64_t lo, const run_opts_t *o, run_result_t *r, char *err,
                          size_t errsize)
{
    PGresult *res;

    if (strcmp(job->name, JOB_ARCHIVE_RAW) == 0)
        return archive_hour(conn, params, lo, o, r, err, errsize);
    res = db_run(conn, "could not delete the period's rows", job->remove, 2, params, PGRES_COMMAND_OK);
    if (res == NULL)
        goto db_error;
    PQclear(res);
    res = db_run(conn, "could not write the period's rows", job->insert, 2, params, PGRES_COMMAND_OK);
    if (res == NULL)
        goto db_error;
    r->rows += db_cmd_tuples(res);
    PQclear(res);
    if (o->export_csv)
        return export_csv(conn, job, lo, o, r, err, errsize);
    return 0;
db_error:
    run_conn_error(conn, err, errsize);
    return -1;
}

int run_period(PGconn *conn, const job_t *job, int64_t lo, int64_t hi, const run_opts_t *o,
               run_result_t *r, int *fatal)
{
    char slo[TS_RFC3339_LEN], shi[TS_RFC3339_LEN], label[PERIOD_LABEL_LEN], err[1024] = "";
    const char *params[2] = {slo, shi};
    int64_t started = ts_now_ms(), t0 = ts_monotonic_ms();
    run_result_t mine = {0, 0, 0};
    PGresult *res;
    size_t n;

    ts_format_rfc3339(lo, slo);
    ts_format_rfc3339(hi, shi);
    period_label(job->kind, lo, label);
    *fatal = 0;
    res = db_run(conn, "could not start the run's transaction",
                 "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, PGRES_COMMAND_OK);
    if (res == NULL) {
        run_conn_error(conn, err, sizeof(err));
        goto fail;
    }
    PQclear(res);
    res = db_run(conn, "could not set the period",
                 "SELECT set_config('ecom_batch.lo', $1, true), set_config('ecom_batch.hi', $2, true)",
                 2, params, PGRES_TUPLES_OK);
    if (res == NULL) {
        run_conn_error(conn, err, sizeof(err));
        goto fail;
    }
    PQclear(res);
    if (replace_period(conn, job, params, lo, o, &mine, err, sizeof(err)) != 0)
        goto fail;
    if (run_record(conn, job->name, lo, hi, mine.rows, started, ts_monotonic_ms() - t0, NULL) != 0 ||
        db_run_cmd(conn, "could not commit the run", "COMMIT") != 0) {
        run_conn_error(conn, err, sizeof(err));
        goto fail;
    }
    r->rows += mine.rows;
    r->files += mine.files;
    r->bytes += mine.bytes;
    LOG_DEBUG("%s %s: %lld rows in %lld ms", job->name, label, mine.rows,
              (long long)(ts_monotonic_ms() - t0));
    return 0;
fail:
    /* err may come from lake or COPY messages too, which end in a newline. */
    n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
    if (term_requested())
        snprintf(err + n, sizeof(err) - n, "%s(interrupted by a stop request)", n ? " " : "");
    LOG_ERROR("%s %s failed: %s", job->name, label, err);
    if (db_recover(conn) != 0 || term_requested()) {
        *fatal = 1;
        if (PQstatus(conn) != CONNECTION_OK)
            return -1;
    }
    run_record(conn, job->name, lo, hi, 0, started, ts_monotonic_ms() - t0, err);
    return -1;
}
