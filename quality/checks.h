/*
 * checks.h - ecom-quality's checks as data: name, table, the statement that
 * observes one value and its details over a period, default thresholds.
 * checks.c also runs them, applies --fix and records the run.
 *
 * Every statement takes $1 and $2, the period's start and end (timestamptz
 * text, half-open), and $3, the price deviation that counts as an anomaly,
 * and returns one row: observed (numeric, NULL when there is nothing to
 * judge) and details (jsonb).
 */
#ifndef ECOM_CHECKS_H
#define ECOM_CHECKS_H

#include "verdict.h"

#include <libpq-fe.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *table;
    const char *unit;        /* what observed is, for the table */
    const char *sql;
    verdict_limits_t lim;    /* defaults; --threshold changes them */
} check_t;

extern const check_t checks[];
extern const int checks_count;

typedef struct {
    const check_t *check;
    verdict_limits_t lim;
    int has_value;
    double observed;
    char observed_text[48];  /* as PostgreSQL printed it, "" when NULL */
    verdict_status_t status;
    char *details;           /* jsonb text, owned */
} check_result_t;

typedef struct {
    int64_t lo, hi;
    double price_deviation;
    int fix;                          /* --fix: remove the near-duplicates */
    verdict_limits_t lim[32];         /* per check name index, see checks_name_index */
} checks_conf_t;

/* The distinct check names, in order, ending with NULL; and the index of
 * a name in it (-1 if unknown). */
extern const char *const check_names[];
int checks_name_index(const char *name);

/* Runs every check over the period, spread over the nconns connections
 * (a thread each), all in one snapshot: REPEATABLE READ transactions, the
 * later ones importing the first's (pg_export_snapshot). With --fix the
 * near-duplicates are then removed in the first's transaction, after being
 * counted. Fills results[checks_count], records the run and its results.
 * Returns 0 with *run_id and *removed set, or -1 (logged). */
int checks_run(PGconn **conns, int nconns, const checks_conf_t *c, check_result_t *results,
               long long *run_id, long long *removed);

void checks_free_results(check_result_t *results);

#endif
