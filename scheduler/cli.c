/*
 * cli.c - the commands that read or change the history (see cli.h). They
 * change rows only; the schedulers running pick the change up at once
 * (NOTIFY ecom_scheduler) and run what is queued, as Airflow 3's
 * scheduler runs backfills. Person-readable tables, or --json.
 */
#include "cli.h"
#include "db.h"
#include "elog.h"
#include "plan.h"
#include "store.h"
#include "ts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKFILL_MAX 10000
#define FAR_PAST 0LL                /* 1970 */
#define FAR_FUTURE 7258118400000LL  /* 2200 */

static int open_store(store_t *st, const cli_opts_t *o)
{
    memset(st, 0, sizeof(*st));
    st->conn = db_connect_retry(o->conninfo, "ecom-scheduler", 10000);
    return st->conn != NULL ? 0 : -1;
}

/* "2026-12-01T10:00:00Z" (buf: TS_RFC3339_LEN). */
static const char *when(int64_t ms, char *buf)
{
    ts_format_rfc3339(ms, buf);
    buf[19] = 'Z';
    buf[20] = '\0';
    return buf;
}

static void print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
}

int cli_trigger(const dag_t *d, const cli_opts_t *o)
{
    int64_t logical = o->logical == INT64_MIN ? ts_now_ms() : o->logical, start, end;
    char run_id[96], a[TS_RFC3339_LEN], b[TS_RFC3339_LEN], c[TS_RFC3339_LEN];
    store_t st;
    int got;

    if (open_store(&st, o) != 0)
        return 1;
    plan_manual_interval(d, logical, &start, &end);
    got = store_create_run(&st, d, "manual", logical, start, end, o->conf, run_id);
    if (got == 1) {
        store_notify(&st, d->id);
        if (o->json)
            print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "dag_id", d->id, "run_id", run_id, "state",
                                 "queued", "logical_date", when(logical, a), "data_interval_start",
                                 when(start, b), "data_interval_end", when(end, c)));
        else
            printf("queued %s %s (data interval %s to %s)\n", d->id, run_id, when(start, b), when(end, c));
    } else if (got == 0)
        LOG_ERROR("DAG %s already has a run with logical date %s", d->id, when(logical, a));
    PQfinish(st.conn);
    return got == 1 ? 0 : 1;
}

int cli_list_runs(const dag_t *d, const cli_opts_t *o)
{
    char lim[24];
    const char *p[3] = {d->id, o->state, store_i64(lim, o->limit)};
    json_t *arr = json_array();
    PGresult *res;
    store_t st;

    if (open_store(&st, o) != 0) {
        json_decref(arr);
        return 1;
    }
    res = db_run(st.conn, "listing DAG runs",
                 "SELECT r.run_id, r.state, r.run_type, ecom_ms(r.logical_date), ecom_ms(r.data_interval_start),"
                 " ecom_ms(r.data_interval_end), ecom_ms(r.start_date), ecom_ms(r.end_date),"
                 " (SELECT json_agg(json_build_object('task_id', ti.task_id, 'state', ti.state,"
                 "   'try_number', ti.try_number) ORDER BY ti.task_id)::text"
                 "  FROM task_instances ti WHERE ti.dag_id = r.dag_id AND ti.run_id = r.run_id)"
                 " FROM dag_runs r WHERE r.dag_id = $1 AND ($2::text IS NULL OR r.state = $2)"
                 " ORDER BY r.logical_date DESC, r.run_id LIMIT $3",
                 3, p, PGRES_TUPLES_OK);
    if (res == NULL) {
        json_decref(arr);
        PQfinish(st.conn);
        return 1;
    }
    if (!o->json)
        printf("%-44s %-8s %-9s %-20s %-20s %-20s %s\n", "run_id", "state", "run_type", "data_interval_start",
               "start_date", "end_date", "tasks");
    for (int i = 0; i < PQntuples(res); i++) {
        char t[4][TS_RFC3339_LEN];
        json_t *tasks = json_loads(PQgetvalue(res, i, 8), 0, NULL), *row;
        const char *cols[4];

        for (int k = 0; k < 4; k++)
            cols[k] = PQgetisnull(res, i, 4 + k) ? NULL : when(strtoll(PQgetvalue(res, i, 4 + k), NULL, 10), t[k]);
        if (tasks == NULL)
            tasks = json_array();
        if (o->json) {
            row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:o}", "run_id", PQgetvalue(res, i, 0),
                            "state", PQgetvalue(res, i, 1), "run_type", PQgetvalue(res, i, 2), "logical_date",
                            when(strtoll(PQgetvalue(res, i, 3), NULL, 10), t[3]), "data_interval_start",
                            cols[0], "data_interval_end", cols[1], "start_date", cols[2], "end_date", cols[3],
                            "tasks", tasks);
            json_array_append_new(arr, row);
        } else {
            size_t k;
            json_t *ti;
            printf("%-44s %-8s %-9s %-20s %-20s %-20s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 2), cols[0], cols[2] ? cols[2] : "-", cols[3] ? cols[3] : "-");
            json_array_foreach(tasks, k, ti) {
                int tries = (int)json_integer_value(json_object_get(ti, "try_number"));
                printf("%s%s=%s", k ? " " : " ", json_string_value(json_object_get(ti, "task_id")),
                       json_string_value(json_object_get(ti, "state")));
                if (tries > 1)
                    printf("(%d tries)", tries);
            }
            putchar('\n');
            json_decref(tasks);
        }
    }
    PQclear(res);
    PQfinish(st.conn);
    if (o->json)
        print_json(arr);
    else
        json_decref(arr);
    return 0;
}

/* Clears the task instances of the tasks in mask within [from, to) (and of
 * run run_id only, when not NULL): state none, tries for a fresh set of
 * retries, their runs queued again when they had ended. only_failed: only
 * failed and upstream_failed ones. Queued and running ones are left. The
 * cleared ones are appended to out (run_id, task_id, logical_date).
 * Returns how many, or -1. */
static int clear_tis(store_t *st, const dag_t *d, const int *mask, int64_t from, int64_t to, const char *run_id,
                     int only_failed, json_t *out)
{
    buf_t ids = {0}, retries = {0};
    char f[24], t[24];
    PGresult *res = NULL;
    int n = -1;

    db_array_begin(&ids);
    db_array_begin(&retries);
    for (int i = 0; i < d->n_tasks; i++)
        if (mask[i]) {
            db_array_text(&ids, d->tasks[i].id);
            db_array_int(&retries, d->tasks[i].retries);
        }
    db_array_end(&ids);
    db_array_end(&retries);
    if (!ids.oom && !retries.oom) {
        const char *p[7] = {d->id, ids.data, retries.data, store_i64(f, from), store_i64(t, to), only_failed ? "t" : "f",
                            run_id};
        res = db_run(st->conn, "clearing task instances",
                     "WITH t AS (SELECT * FROM unnest($2::text[], $3::int[]) AS t (task_id, retries)),"
                     " c AS (UPDATE task_instances ti SET state = 'none', max_tries = ti.try_number + t.retries + 1,"
                     "  next_try_at = NULL, start_date = NULL, end_date = NULL, duration_ms = NULL,"
                     "  scheduler_id = NULL"
                     "  FROM t, dag_runs r"
                     "  WHERE ti.dag_id = $1 AND ti.task_id = t.task_id AND r.dag_id = ti.dag_id"
                     "  AND r.run_id = ti.run_id AND r.logical_date >= ecom_ts($4) AND r.logical_date < ecom_ts($5)"
                     "  AND ($7::text IS NULL OR r.run_id = $7) AND ti.state NOT IN ('none', 'queued', 'running')"
                     "  AND (NOT $6::boolean OR ti.state IN ('failed', 'upstream_failed'))"
                     "  RETURNING ti.run_id, ti.task_id, r.logical_date),"
                     " u AS (UPDATE dag_runs SET state = 'queued', start_date = NULL, end_date = NULL"
                     "  WHERE dag_id = $1 AND run_id IN (SELECT run_id FROM c) AND state IN ('success', 'failed'))"
                     " SELECT run_id, task_id, ecom_ms(logical_date) FROM c ORDER BY logical_date, task_id",
                     7, p, PGRES_TUPLES_OK);
    }
    if (res != NULL) {
        n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            char ld[TS_RFC3339_LEN];
            json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "run_id", PQgetvalue(res, i, 0), "task_id",
                                                 PQgetvalue(res, i, 1), "logical_date",
                                                 when(strtoll(PQgetvalue(res, i, 2), NULL, 10), ld)));
        }
        PQclear(res);
    }
    buf_free(&ids);
    buf_free(&retries);
    return n;
}

/* BEGIN, then COMMIT or (a dry run, or a failure) ROLLBACK. */
static int finish(store_t *st, int ok, int dry_run)
{
    if (ok && !dry_run)
        return db_run_cmd(st->conn, "committing", "COMMIT");
    db_run_cmd(st->conn, "rolling back", "ROLLBACK");
    return ok ? 0 : -1;
}

int cli_clear(const dag_t *d, const int *mask, const cli_opts_t *o)
{
    int all[DAG_MAX_TASKS], order[DAG_MAX_TASKS], n;
    json_t *out = json_array();
    store_t st;

    memcpy(all, mask, sizeof(all));
    if (o->downstream) { /* in dependency order, a task is cleared when an upstream one is */
        dag_topo_order(d, order);
        for (int k = 0; k < d->n_tasks; k++)
            for (int u = 0; u < d->tasks[order[k]].n_upstream; u++)
                if (all[d->tasks[order[k]].upstream[u]])
                    all[order[k]] = 1;
    }
    if (open_store(&st, o) != 0 || db_run_cmd(st.conn, "beginning", "BEGIN") != 0) {
        json_decref(out);
        PQfinish(st.conn);
        return 1;
    }
    n = clear_tis(&st, d, all, o->from, o->to, NULL, 0, out);
    if (finish(&st, n >= 0, o->dry_run) != 0)
        n = -1;
    if (n > 0 && !o->dry_run)
        store_notify(&st, d->id);
    PQfinish(st.conn);
    if (n < 0) {
        json_decref(out);
        return 1;
    }
    if (o->json)
        print_json(out);
    else {
        size_t i;
        json_t *r;
        json_array_foreach(out, i, r)
            printf("%s %s %s\n", o->dry_run ? "would clear" : "cleared",
                   json_string_value(json_object_get(r, "run_id")), json_string_value(json_object_get(r, "task_id")));
        printf("%s %d task instances of DAG %s (queued and running ones are left alone)\n",
               o->dry_run ? "would clear" : "cleared", n, d->id);
        json_decref(out);
    }
    return 0;
}

int cli_backfill(const dag_t *d, const cli_opts_t *o)
{
    static int64_t starts[BACKFILL_MAX + 1];
    int n = plan_backfill(d, o->from, o->to - 1, ts_now_ms(), starts, BACKFILL_MAX + 1), ok = 1;
    int mask[DAG_MAX_TASKS], counts[4] = {0};
    char f[24], t[24];
    json_t *out = json_array(), *cleared = json_array();
    PGresult *res = NULL;
    store_t st;

    if (n > BACKFILL_MAX) {
        LOG_ERROR("the range holds over %d runs of DAG %s; backfill it in parts", BACKFILL_MAX, d->id);
        json_decref(out);
        json_decref(cleared);
        return 1;
    }
    for (int i = 0; i < d->n_tasks; i++)
        mask[i] = 1;
    if (open_store(&st, o) != 0 || db_run_cmd(st.conn, "beginning", "BEGIN") != 0) {
        ok = 0;
        goto out;
    }
    {
        /* The DAG's lock row: a scheduler's pass does not run between our
         * reads and writes. */
        const char *p[3] = {d->id, store_i64(f, o->from), store_i64(t, o->to)};
        PGresult *lock = db_run(st.conn, "locking the DAG",
                                "SELECT 1 FROM scheduler_dags WHERE dag_id = $1 FOR UPDATE", 1, p, PGRES_TUPLES_OK);
        PQclear(lock);
        res = db_run(st.conn, "reading the DAG's runs",
                     "SELECT ecom_ms(logical_date), state, run_id FROM dag_runs WHERE dag_id = $1"
                     " AND logical_date >= ecom_ts($2) AND logical_date < ecom_ts($3)",
                     3, p, PGRES_TUPLES_OK);
        if (lock == NULL || res == NULL) {
            ok = 0;
            goto out;
        }
    }
    for (int i = 0; i < n && ok; i++) {
        const char *state = NULL, *existing = NULL, *action;
        char run_id[96] = "", ld[TS_RFC3339_LEN];

        for (int r = 0; r < PQntuples(res); r++)
            if (strtoll(PQgetvalue(res, r, 0), NULL, 10) == starts[i]) {
                state = PQgetvalue(res, r, 1);
                existing = PQgetvalue(res, r, 2);
            }
        action = plan_backfill_action(state, o->reprocess);
        if (strcmp(action, "create") == 0)
            ok = store_create_run(&st, d, "backfill", starts[i], starts[i], plan_interval_end(d, starts[i]), NULL,
                                  run_id) >= 0;
        else if (strcmp(action, "skip") != 0)
            ok = clear_tis(&st, d, mask, FAR_PAST, FAR_FUTURE, existing, strcmp(action, "rerun_failed") == 0,
                           cleared) >= 0;
        counts[strcmp(action, "create") == 0 ? 0 : strcmp(action, "skip") == 0 ? 3 : strcmp(action, "rerun") == 0 ? 2 : 1]++;
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s?}", "logical_date", when(starts[i], ld), "action",
                                             action, "run_id", existing != NULL ? existing : run_id,
                                             "existing_state", state));
    }
out:
    PQclear(res);
    if (st.conn != NULL && finish(&st, ok, o->dry_run) != 0)
        ok = 0;
    if (ok && !o->dry_run && n > 0)
        store_notify(&st, d->id);
    PQfinish(st.conn);
    if (!ok) {
        json_decref(out);
        json_decref(cleared);
        return 1;
    }
    json_decref(cleared);
    if (o->json)
        print_json(out);
    else {
        size_t i;
        json_t *r;
        json_array_foreach(out, i, r) {
            const char *es = json_string_value(json_object_get(r, "existing_state"));
            printf("%-20s %-13s %s%s%s%s\n", json_string_value(json_object_get(r, "logical_date")),
                   json_string_value(json_object_get(r, "action")), json_string_value(json_object_get(r, "run_id")),
                   es ? " (was " : "", es ? es : "", es ? ")" : "");
        }
        printf("%s DAG %s: %d runs to create, %d failed ones to rerun, %d to rerun, %d left as they are\n",
               o->dry_run ? "dry run, nothing changed:" : "backfill queued:", d->id, counts[0], counts[1],
               counts[2], counts[3]);
        json_decref(out);
    }
    return 0;
}
