/*
 * store.c - ecom-scheduler's reads and writes of its history (see store.h).
 * Every statement takes its values as parameters.
 */
#include "store.h"
#include "db.h"
#include "elog.h"
#include "plan.h"
#include "ts.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *store_i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Runs a statement expecting no rows back; -1 when it failed. */
static int exec_params(store_t *st, const char *what, const char *sql, int n, const char *const *params,
                       long long *rows)
{
    PGresult *res = db_run(st->conn, what, sql, n, params, PGRES_COMMAND_OK);

    if (res == NULL)
        return -1;
    if (rows != NULL)
        *rows = db_cmd_tuples(res);
    PQclear(res);
    return 0;
}

int store_register(store_t *st)
{
    char pid[24], start[24];
    const char *params[3] = {st->hostname, store_i64(pid, getpid()), store_i64(start, runner_proc_start(getpid()))};
    PGresult *res;

    if (gethostname(st->hostname, sizeof(st->hostname) - 1) != 0)
        snprintf(st->hostname, sizeof(st->hostname), "localhost");
    res = db_run(st->conn, "registering the scheduler",
                 "INSERT INTO scheduler_jobs (hostname, pid, proc_start) VALUES ($1, $2, $3) RETURNING id",
                 3, params, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    st->job_id = col_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

int store_heartbeat(store_t *st)
{
    char id[24];
    const char *params[1] = {store_i64(id, st->job_id)};

    return exec_params(st, "the scheduler's heartbeat",
                       "UPDATE scheduler_jobs SET heartbeat_at = now() WHERE id = $1", 1, params, NULL);
}

int store_end(store_t *st)
{
    char id[24];
    const char *params[1] = {store_i64(id, st->job_id)};

    return exec_params(st, "ending the scheduler",
                       "UPDATE scheduler_jobs SET ended_at = now(), heartbeat_at = now() WHERE id = $1", 1,
                       params, NULL);
}

int store_sync_dags(store_t *st, const dag_file_t *f)
{
    for (int i = 0; i < f->n; i++) {
        const char *params[2] = {f->dags[i].id, f->dags[i].schedule_text};
        if (exec_params(st, "registering a DAG",
                        "INSERT INTO scheduler_dags (dag_id, schedule) VALUES ($1, $2) "
                        "ON CONFLICT (dag_id) DO UPDATE SET schedule = EXCLUDED.schedule, seen_at = now()",
                        2, params, NULL) != 0)
            return -1;
    }
    return 0;
}

void store_notify(store_t *st, const char *dag_id)
{
    const char *params[1] = {dag_id};
    PGresult *res = db_run(st->conn, "waking the schedulers", "SELECT pg_notify('ecom_scheduler', $1)", 1,
                           params, PGRES_TUPLES_OK);

    PQclear(res);
}

int store_create_run(store_t *st, const dag_t *d, const char *type, int64_t logical, int64_t start,
                     int64_t end, const char *conf, char *run_id)
{
    char rfc[TS_RFC3339_LEN], lo[24], so[24], eo[24];
    buf_t ids = {0}, tries = {0};
    const char *params[8];
    PGresult *res;
    int rc = -1;

    ts_format_rfc3339(logical, rfc);
    /* Airflow's run ids: scheduled__2026-12-01T10:00:00+00:00, with the
     * milliseconds when there are any (manual runs at "now"). */
    if (logical % 1000 != 0)
        snprintf(run_id, 96, "%s__%.23s+00:00", type, rfc);
    else
        snprintf(run_id, 96, "%s__%.19s+00:00", type, rfc);
    db_array_begin(&ids);
    db_array_begin(&tries);
    for (int i = 0; i < d->n_tasks; i++) {
        db_array_text(&ids, d->tasks[i].id);
        db_array_int(&tries, d->tasks[i].retries + 1);
    }
    db_array_end(&ids);
    db_array_end(&tries);
    params[0] = d->id;
    params[1] = run_id;
    params[2] = store_i64(lo, logical);
    params[3] = store_i64(so, start);
    params[4] = store_i64(eo, end);
    params[5] = type;
    params[6] = conf != NULL ? conf : "{}";
    params[7] = NULL;
    if (!ids.oom && !tries.oom) {
        const char *p[9] = {params[0], params[1], params[2], params[3], params[4], params[5], params[6],
                            ids.data, tries.data};
        res = db_run(st->conn, "creating a DAG run",
                     "WITH r AS (INSERT INTO dag_runs (dag_id, run_id, logical_date, data_interval_start,"
                     "  data_interval_end, run_type, state, conf)"
                     "  VALUES ($1, $2, ecom_ts($3), ecom_ts($4), ecom_ts($5), $6, 'queued', $7::jsonb)"
                     "  ON CONFLICT DO NOTHING RETURNING dag_id, run_id),"
                     " t AS (INSERT INTO task_instances (dag_id, run_id, task_id, max_tries)"
                     "  SELECT r.dag_id, r.run_id, u.task_id, u.max_tries"
                     "  FROM r, unnest($8::text[], $9::int[]) AS u (task_id, max_tries))"
                     " SELECT count(*) FROM r",
                     9, p, PGRES_TUPLES_OK);
        if (res != NULL) {
            rc = col_i64(res, 0, 0) > 0 ? 1 : 0;
            PQclear(res);
        }
    }
    buf_free(&ids);
    buf_free(&tries);
    return rc;
}

/* Zombies of d: task instances queued or running under a scheduler that
 * is gone (ended, silent for zombie_ms, or, on this host, a process that
 * no longer exists), and claims of ours with no thread behind them.
 * A running one's process group is killed when it is on this host; its
 * try ends as a zombie (a try used up: retried or failed, as Airflow
 * does). A queued one never started: handed back, no try used up. */
static int reap_zombies(store_t *st, const dag_t *d, int64_t now)
{
    const char *params[1] = {d->id};
    PGresult *res = db_run(st->conn, "looking for zombie tasks",
                           "SELECT ti.run_id, ti.task_id, ti.state, ti.try_number, coalesce(ti.hostname, ''),"
                           " coalesce(ti.pid, 0), coalesce(ti.proc_start, -1), j.id, j.hostname, j.pid,"
                           " coalesce(j.proc_start, -1), j.ended_at IS NOT NULL,"
                           " ecom_ms(now()) - ecom_ms(j.heartbeat_at)"
                           " FROM task_instances ti JOIN scheduler_jobs j ON j.id = ti.scheduler_id"
                           " WHERE ti.dag_id = $1 AND ti.state IN ('queued', 'running')",
                           1, params, PGRES_TUPLES_OK);
    int rc = 0;

    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *run_id = PQgetvalue(res, i, 0), *task_id = PQgetvalue(res, i, 1);
        int running = strcmp(PQgetvalue(res, i, 2), "running") == 0;
        int try_number = (int)col_i64(res, i, 3), ti = dag_task_index(d, task_id);
        int64_t owner = col_i64(res, i, 7), age = col_i64(res, i, 12);
        plan_claim_t c = {.ours = owner == st->job_id,
                          .ended = strcmp(PQgetvalue(res, i, 11), "t") == 0,
                          .same_host = strcmp(PQgetvalue(res, i, 8), st->hostname) == 0,
                          .silent_ms = age};
        plan_zombie_t z;
        int killed = 0;

        if (c.ours)
            c.ours_running = st->owns != NULL && st->owns(st->owns_ctx, d->id, run_id, task_id, try_number);
        if (c.same_host)
            c.alive = runner_proc_alive((pid_t)col_i64(res, i, 9), col_i64(res, i, 10));
        if ((z = plan_zombie(&c, st->zombie_ms)) == ZOMBIE_NO)
            continue;
        if (running && strcmp(PQgetvalue(res, i, 4), st->hostname) == 0 && col_i64(res, i, 5) > 0)
            killed = runner_kill_group((pid_t)col_i64(res, i, 5), col_i64(res, i, 6));
        LOG_WARN("task %s.%s of %s, try %d, is a zombie (%s, scheduler %lld)%s", d->id, task_id, run_id,
                 try_number, plan_zombie_reason(z), (long long)owner,
                 killed ? ": what was left of its process group killed" : "");
        {
            char tn[24], ow[24], retry[24];
            const dag_task_t *t = ti >= 0 ? &d->tasks[ti] : NULL;
            int64_t delay = t != NULL ? plan_retry_delay(t, try_number + 1) : 0;
            const char *p[7] = {d->id, run_id, task_id, store_i64(tn, try_number), store_i64(ow, owner),
                                running ? "zombie" : "handed_back", store_i64(retry, now + delay)};
            if (exec_params(st, "ending a zombie task",
                            "WITH tr AS (UPDATE task_tries SET outcome = $6, ended_at = now(),"
                            "  duration_ms = ecom_ms(now()) - ecom_ms(started_at)"
                            "  WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4"
                            "  AND outcome IS NULL)"
                            " UPDATE task_instances SET"
                            "  state = CASE WHEN $6 = 'handed_back' THEN 'scheduled'"
                            "   WHEN try_number < max_tries THEN 'up_for_retry' ELSE 'failed' END,"
                            "  max_tries = max_tries + CASE WHEN $6 = 'handed_back' THEN 1 ELSE 0 END,"
                            "  next_try_at = CASE WHEN $6 = 'zombie' AND try_number < max_tries"
                            "   THEN ecom_ts($7) END,"
                            "  end_date = CASE WHEN $6 = 'zombie' THEN now() END,"
                            "  scheduler_id = NULL"
                            " WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4"
                            " AND scheduler_id = $5 AND state IN ('queued', 'running')",
                            7, p, NULL) != 0)
                rc = -1;
        }
    }
    PQclear(res);
    return rc;
}

/* New scheduled runs, as plan_due finds them after the DAG's cursor. */
static int create_due_runs(store_t *st, const dag_t *d, int64_t now, int64_t last, int64_t *next_ms)
{
    int64_t starts[64];
    int n = plan_due(d, last, now, starts, 64);
    char run_id[96], lo[24];

    for (int i = 0; i < n; i++) {
        if (store_create_run(st, d, "scheduled", starts[i], starts[i], plan_interval_end(d, starts[i]), NULL,
                             run_id) < 0)
            return -1;
        LOG_INFO("DAG %s: run %s queued", d->id, run_id);
    }
    if (n > 0) {
        const char *p[2] = {d->id, store_i64(lo, starts[n - 1])};
        if (exec_params(st, "moving the DAG's cursor",
                        "UPDATE scheduler_dags SET last_scheduled = ecom_ts($2) WHERE dag_id = $1", 2, p,
                        NULL) != 0)
            return -1;
        last = starts[n - 1];
    }
    *next_ms = plan_next_due(d, last, now);
    return 0;
}

/* Queued runs become running, oldest first, up to max_active_runs. */
static int start_runs(store_t *st, const dag_t *d)
{
    char max[24];
    const char *p[2] = {d->id, store_i64(max, d->max_active_runs)};

    return exec_params(st, "starting DAG runs",
                       "UPDATE dag_runs SET state = 'running', start_date = now()"
                       " WHERE dag_id = $1 AND run_id IN (SELECT run_id FROM dag_runs"
                       "  WHERE dag_id = $1 AND state = 'queued' ORDER BY logical_date"
                       "  LIMIT greatest(0, $2::int - (SELECT count(*) FROM dag_runs"
                       "   WHERE dag_id = $1 AND state = 'running')))",
                       2, p, NULL);
}

static int set_ti_state(store_t *st, const dag_t *d, const char *run_id, const char *task_id,
                        plan_ti_state_t s)
{
    const char *p[4] = {d->id, run_id, task_id, plan_ti_state_name(s)};

    return exec_params(st, "advancing a task instance",
                       "UPDATE task_instances SET state = $4, next_try_at = NULL,"
                       " end_date = CASE WHEN $4 IN ('upstream_failed', 'skipped') THEN now() END"
                       " WHERE dag_id = $1 AND run_id = $2 AND task_id = $3",
                       4, p, NULL);
}

/* Claims a scheduled task instance: queued, ours, its try row written. */
static int claim(store_t *st, const dag_t *d, const char *run_id, int ti, const char *command, int *try_number)
{
    char me[24];
    const char *p[6] = {d->id, run_id, d->tasks[ti].id, store_i64(me, st->job_id), st->hostname, command};
    PGresult *res = db_run(st->conn, "claiming a task instance",
                           "WITH ti AS (UPDATE task_instances SET state = 'queued', try_number = try_number + 1,"
                           "  scheduler_id = $4, hostname = $5, pid = NULL, proc_start = NULL,"
                           "  start_date = now(), end_date = NULL, duration_ms = NULL, next_try_at = NULL"
                           "  WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND state = 'scheduled'"
                           "  RETURNING try_number)"
                           " INSERT INTO task_tries (dag_id, run_id, task_id, try_number, scheduler_id, hostname,"
                           "  command) SELECT $1, $2, $3, try_number, $4, $5, $6 FROM ti RETURNING try_number",
                           6, p, PGRES_TUPLES_OK);
    int got;

    if (res == NULL)
        return -1;
    got = PQntuples(res) == 1;
    *try_number = got ? (int)col_i64(res, 0, 0) : 0;
    PQclear(res);
    return got;
}

static char *render(const dag_t *d, int ti, int64_t start, int64_t end)
{
    plan_context_t ctx = {d->id, d->tasks[ti].id, start, end};
    char out[8192], err[256];

    if (plan_render(d->tasks[ti].command, &ctx, out, sizeof(out), err, sizeof(err)) != 0) {
        LOG_ERROR("task %s.%s: %s", d->id, d->tasks[ti].id, err);
        return NULL;
    }
    return strdup(out);
}

/* One running run: its task instances advanced by the trigger rules and
 * retry times, scheduled ones claimed, its state set when it is done. */
static int advance_run(store_t *st, const dag_t *d, const PGresult *res, int row0, int rows, int64_t now,
                       store_claim_t *claims, int max_claims, int *n_claims, int64_t *next_ms)
{
    const char *run_id = PQgetvalue(res, row0, 0);
    int64_t start = col_i64(res, row0, 1), end = col_i64(res, row0, 2);
    plan_ti_state_t states[DAG_MAX_TASKS];
    int order[DAG_MAX_TASKS], present[DAG_MAX_TASKS] = {0};
    int64_t retry_at[DAG_MAX_TASKS] = {0};
    plan_run_state_t rs;

    for (int i = 0; i < d->n_tasks; i++)
        states[i] = TI_NONE;
    for (int r = row0; r < row0 + rows; r++) {
        int ti = dag_task_index(d, PQgetvalue(res, r, 3));
        int s = plan_ti_state_parse(PQgetvalue(res, r, 4));
        if (ti < 0 || s < 0)
            continue; /* a task no longer in the DAG file */
        states[ti] = (plan_ti_state_t)s;
        retry_at[ti] = col_i64(res, r, 5);
        present[ti] = 1;
    }
    dag_topo_order(d, order);
    for (int k = 0; k < d->n_tasks; k++) {
        int ti = order[k];
        plan_ti_state_t s = states[ti];

        if (!present[ti])
            continue; /* added to the file after the run was created: not part of it */
        if (s == TI_UP_FOR_RETRY) {
            if (retry_at[ti] > now) {
                if (retry_at[ti] < *next_ms)
                    *next_ms = retry_at[ti];
                continue;
            }
            s = TI_SCHEDULED;
        } else if (s == TI_NONE) {
            switch (plan_task(d, ti, states)) {
            case PLAN_RUN: s = TI_SCHEDULED; break;
            case PLAN_UPSTREAM_FAILED: s = TI_UPSTREAM_FAILED; break;
            case PLAN_SKIP: s = TI_SKIPPED; break;
            case PLAN_WAIT: break;
            }
        }
        if (s != states[ti]) {
            if (set_ti_state(st, d, run_id, d->tasks[ti].id, s) != 0)
                return -1;
            states[ti] = s;
        }
        if (s == TI_SCHEDULED && *n_claims < max_claims) {
            store_claim_t *c = &claims[*n_claims];
            char *command = render(d, ti, start, end);
            int got;

            if (command == NULL)
                continue; /* refused at start-up already; a DAG file changed under us */
            if ((got = claim(st, d, run_id, ti, command, &c->try_number)) < 0) {
                free(command);
                return -1;
            }
            if (got == 0) {
                free(command);
                continue;
            }
            snprintf(c->run_id, sizeof(c->run_id), "%s", run_id);
            snprintf(c->task_id, sizeof(c->task_id), "%s", d->tasks[ti].id);
            c->task_index = ti;
            c->start = start;
            c->end = end;
            c->command = command;
            c->conf = strdup(PQgetvalue(res, row0, 6));
            states[ti] = TI_QUEUED;
            (*n_claims)++;
        }
    }
    rs = plan_run_state(d, states);
    if (rs != RUN_RUNNING) {
        const char *p[3] = {d->id, run_id, plan_run_state_name(rs)};
        if (exec_params(st, "ending a DAG run",
                        "UPDATE dag_runs SET state = $3, end_date = now() WHERE dag_id = $1 AND run_id = $2", 3,
                        p, NULL) != 0)
            return -1;
        LOG_INFO("DAG %s: run %s %s", d->id, run_id, plan_run_state_name(rs));
        *next_ms = now; /* a queued run may start in its place: another pass at once */
    }
    return 0;
}

int store_tick(store_t *st, const dag_t *d, int64_t now, store_claim_t *claims, int max_claims,
               int64_t *next_ms, int *active)
{
    const char *p[1] = {d->id};
    PGresult *res = NULL;
    int n_claims = 0, ok = 0;
    int64_t last;

    *next_ms = INT64_MAX;
    *active = 1;
    if (db_run_cmd(st->conn, "beginning a scheduling pass", "BEGIN") != 0)
        return -1;
    res = db_run(st->conn, "locking the DAG",
                 "SELECT coalesce(ecom_ms(last_scheduled), -9223372036854775808) FROM scheduler_dags"
                 " WHERE dag_id = $1 FOR UPDATE SKIP LOCKED",
                 1, p, PGRES_TUPLES_OK);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) { /* another scheduler's pass */
        *next_ms = now + 1000;
        ok = 1;
        goto out;
    }
    last = col_i64(res, 0, 0);
    PQclear(res);
    res = NULL;
    if (reap_zombies(st, d, now) != 0 || create_due_runs(st, d, now, last, next_ms) != 0 ||
        start_runs(st, d) != 0)
        goto out;
    res = db_run(st->conn, "reading the running DAG runs",
                 "SELECT r.run_id, ecom_ms(r.data_interval_start), ecom_ms(r.data_interval_end), ti.task_id,"
                 " ti.state, coalesce(ecom_ms(ti.next_try_at), 0), r.conf::text"
                 " FROM dag_runs r JOIN task_instances ti USING (dag_id, run_id)"
                 " WHERE r.dag_id = $1 AND r.state = 'running' ORDER BY r.logical_date, r.run_id",
                 1, p, PGRES_TUPLES_OK);
    if (res == NULL)
        goto out;
    /* Queued runs that could not start wait for running ones. */
    *active = PQntuples(res) > 0;
    for (int r = 0, n = PQntuples(res); r < n;) {
        int rows = 1;
        while (r + rows < n && strcmp(PQgetvalue(res, r + rows, 0), PQgetvalue(res, r, 0)) == 0)
            rows++;
        if (advance_run(st, d, res, r, rows, now, claims, max_claims, &n_claims, next_ms) != 0)
            goto out;
        r += rows;
    }
    ok = 1;
out:
    PQclear(res);
    if (ok && db_run_cmd(st->conn, "committing a scheduling pass", "COMMIT") == 0)
        return n_claims;
    db_recover(st->conn);
    for (int i = 0; i < n_claims; i++) {
        free(claims[i].command);
        free(claims[i].conf);
    }
    return -1;
}

int store_try_started(store_t *st, const char *dag_id, const char *run_id, const char *task_id, int try_number,
                      pid_t pid, int64_t proc_start)
{
    char tn[24], me[24], ps[24], pr[24];
    const char *p[7] = {dag_id, run_id, task_id, store_i64(tn, try_number), store_i64(me, st->job_id), store_i64(ps, pid),
                        store_i64(pr, proc_start)};

    return exec_params(st, "recording a task's start",
                       "WITH ti AS (UPDATE task_instances SET state = 'running', pid = $6, proc_start = $7"
                       "  WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4"
                       "  AND scheduler_id = $5 AND state = 'queued')"
                       " UPDATE task_tries SET pid = $6"
                       " WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4",
                       7, p, NULL);
}

/* The output as a text column holds it: each byte that does not start a
 * valid UTF-8 character, and NUL, becomes U+FFFD (a task prints what it
 * likes; the kept tail may also start inside a character). malloc'd. */
static char *as_text(const char *s, size_t len)
{
    char *out = malloc(len * 3 + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char_len((const unsigned char *)s + i, len - i);
        if (n == 0 || s[i] == '\0') {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, n);
            o += n;
            i += n;
        }
    }
    *o = '\0';
    return out;
}

int store_try_ended(store_t *st, const dag_t *d, int task_index, const char *run_id, int try_number,
                    store_outcome_t outcome, const runner_result_t *r, int64_t now)
{
    static const char *names[] = {"success", "failed", "timeout", "handed_back"};
    const dag_task_t *t = &d->tasks[task_index];
    char tn[24], me[24], ex[24], sg[24], du[24], dr[24], retry[24];
    const char *p[12] = {d->id, run_id, t->id, store_i64(tn, try_number), store_i64(me, st->job_id), names[outcome],
                         r->exit_status >= 0 ? store_i64(ex, r->exit_status) : NULL,
                         r->term_signal ? store_i64(sg, r->term_signal) : NULL, store_i64(du, r->duration_ms),
                         NULL, store_i64(dr, (int64_t)r->output_dropped),
                         store_i64(retry, now + plan_retry_delay(t, try_number + 1))};
    char *output = as_text(r->output != NULL ? r->output : "", r->output != NULL ? r->output_len : 0);
    long long rows = 0;
    int rc;

    if ((p[9] = output) == NULL)
        return -1;
    rc = exec_params(st, "recording a task's end",
                    "WITH ti AS (UPDATE task_instances SET"
                    "  state = CASE WHEN $6 = 'success' THEN 'success' WHEN $6 = 'handed_back' THEN 'scheduled'"
                    "   WHEN try_number < max_tries THEN 'up_for_retry' ELSE 'failed' END,"
                    "  max_tries = max_tries + CASE WHEN $6 = 'handed_back' THEN 1 ELSE 0 END,"
                    "  next_try_at = CASE WHEN $6 IN ('failed', 'timeout') AND try_number < max_tries"
                    "   THEN ecom_ts($12) END,"
                    "  end_date = CASE WHEN $6 <> 'handed_back' THEN now() END,"
                    "  duration_ms = $9, scheduler_id = NULL"
                    "  WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4"
                    "  AND scheduler_id = $5 AND state IN ('queued', 'running') RETURNING 1)"
                    " UPDATE task_tries SET outcome = $6, ended_at = now(), exit_status = $7, term_signal = $8,"
                    "  duration_ms = $9, output = $10, output_dropped = $11"
                    " WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4"
                    " AND outcome IS NULL AND EXISTS (SELECT 1 FROM ti)",
                    12, p, &rows);
    free(output);
    return rc != 0 ? -1 : rows > 0 ? 1 : 0;
}
