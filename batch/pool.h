/*
 * pool.h - running a job's periods on several PostgreSQL connections at
 * once (--jobs), each period on one of them (run.c), with progress lines
 * and a summary. Periods are independent (each replaces its own rows in a
 * transaction of its own), so their order of completion does not matter.
 */
#ifndef ECOM_POOL_H
#define ECOM_POOL_H

#include "jobs.h"
#include "run.h"

#include <libpq-fe.h>

typedef struct {
    const job_t *job;
    int64_t first, last;    /* starts of the first and last period */
    int workers;            /* connections, 1.. */
    const char *conninfo;   /* NULL: libpq's environment */
    int connect_wait_ms;
    double progress_s;      /* 0: no progress lines */
    const run_opts_t *run;
} pool_conf_t;

/* Runs every period; returns the exit status: 0 when all succeeded, 1
 * when one failed, a connection was lost or a stop was requested. */
int pool_run(const pool_conf_t *c);

#endif
