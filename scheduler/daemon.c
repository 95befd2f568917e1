/*
 * daemon.c - `ecom-scheduler run`, the daemon loop: one connection to
 * PostgreSQL (its history, store.c), one pass per DAG when the DAG needs
 * one (a run due by the clock, a retry's time, a try that ended, a NOTIFY
 * from the CLI, or every poll interval for what other schedulers did), the
 * executor's threads running the claimed tries (exec.c), a heartbeat, and
 * the stop: SIGINT/SIGTERM end the passes, let running tries finish for
 * the grace period, then end the rest and hand them back.
 */
#include "daemon.h"
#include "db.h"
#include "elog.h"
#include "exec.h"
#include "store.h"
#include "term.h"
#include "ts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_MAX (64 * 1024)
/* A DAG with no run queued or running gets a pass at least this often. */
#define DAEMON_IDLE_PASS_MS 60000

typedef struct {
    const dag_file_t *f;
    const daemon_opts_t *o;
    store_t st;
    exec_t ex;
    int64_t next_tick[DAG_MAX_DAGS];
    int64_t next_heartbeat;
    int64_t reconnect_at, reconnect_backoff; /* monotonic ms */
    int listening;
} loop_t;

static int owns(void *ctx, const char *dag_id, const char *run_id, const char *task_id, int try_number)
{
    loop_t *l = ctx;

    for (int i = 0; i < EXEC_MAX_SLOTS; i++) {
        const exec_slot_t *s = &l->ex.slots[i];
        if (s->in_use && s->try_number == try_number && strcmp(s->dag_id, dag_id) == 0 &&
            strcmp(s->run_id, run_id) == 0 && strcmp(s->task_id, task_id) == 0)
            return 1;
    }
    return 0;
}

static int dag_index(const loop_t *l, const char *dag_id)
{
    for (int i = 0; i < l->f->n; i++)
        if (strcmp(l->f->dags[i].id, dag_id) == 0)
            return i;
    return -1;
}

/* A usable connection, LISTENing. 0, or -1 when there is none yet (the
 * loop goes on: tries keep running, their ends wait in their slots). */
static int connection(loop_t *l, int max_wait_ms)
{
    if (l->st.conn != NULL && PQstatus(l->st.conn) == CONNECTION_OK)
        return 0;
    if (l->st.conn != NULL) {
        LOG_WARN("lost the connection to PostgreSQL; reconnecting");
        PQfinish(l->st.conn);
        l->st.conn = NULL;
        l->listening = 0;
    }
    /* One attempt per backoff step (1 s doubling to 8 s), so a database
     * that is down costs a log line per attempt, not per turn. */
    if (ts_monotonic_ms() < l->reconnect_at)
        return -1;
    if ((l->st.conn = db_connect_retry(l->o->conninfo, "ecom-scheduler", max_wait_ms)) == NULL) {
        l->reconnect_backoff = l->reconnect_backoff == 0 ? 1000 : l->reconnect_backoff >= 8000 ? 8000
                               : l->reconnect_backoff * 2;
        l->reconnect_at = ts_monotonic_ms() + l->reconnect_backoff;
        return -1;
    }
    l->reconnect_backoff = 0;
    if (db_run_cmd(l->st.conn, "listening for the CLI", "LISTEN ecom_scheduler") == 0)
        l->listening = 1;
    for (int i = 0; i < l->f->n; i++)
        l->next_tick[i] = 0;
    return 0;
}

static char *env_var(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s=%s", name, value);
    return s;
}

/* Starts the try of claim c of DAG d in a free slot (the tick asked for
 * no more claims than there are). A try that cannot start fails. */
static void start_try(loop_t *l, const dag_t *d, store_claim_t *c)
{
    exec_slot_t *s = exec_slot(&l->ex);
    char rfc_s[TS_RFC3339_LEN], rfc_e[TS_RFC3339_LEN];

    if (s == NULL) { /* cannot happen: the pass claimed at most the free slots */
        LOG_ERROR("task %s.%s of %s: no free slot", d->id, c->task_id, c->run_id);
        free(c->command);
        free(c->conf);
        return;
    }
    snprintf(s->dag_id, sizeof(s->dag_id), "%s", d->id);
    snprintf(s->run_id, sizeof(s->run_id), "%s", c->run_id);
    snprintf(s->task_id, sizeof(s->task_id), "%s", c->task_id);
    s->try_number = c->try_number;
    s->command = c->command;
    s->timeout_ms = d->tasks[c->task_index].execution_timeout_ms;
    s->max_output = OUTPUT_MAX;
    ts_format_rfc3339(c->start, rfc_s);
    ts_format_rfc3339(c->end, rfc_e);
    s->env[0] = env_var("ECOM_DATA_INTERVAL_START", rfc_s);
    s->env[1] = env_var("ECOM_DATA_INTERVAL_END", rfc_e);
    s->env[2] = env_var("ECOM_DAG_RUN_CONF", c->conf != NULL ? c->conf : "{}");
    free(c->conf);
    LOG_INFO("task %s.%s of %s, try %d: starting: %s", d->id, c->task_id, c->run_id, c->try_number, c->command);
    if (s->env[0] == NULL || s->env[1] == NULL || s->env[2] == NULL || exec_start(&l->ex, s) != 0) {
        runner_result_t r = {.exit_status = -1, .output = "could not start the task's process"};
        LOG_ERROR("task %s.%s of %s: could not start: %s", d->id, c->task_id, c->run_id, strerror(errno));
        r.output_len = strlen(r.output);
        store_try_ended(&l->st, d, c->task_index, c->run_id, c->try_number, TRY_FAILED, &r, ts_now_ms());
    }
}

/* Writes what the slots have to say: tries started, tries ended (then the
 * slot is freed and the DAG gets a pass at once). A write that fails is
 * tried again on the next turn, so an end is never lost while the
 * scheduler lives. */
static void drain_slots(loop_t *l)
{
    for (int i = 0; i < EXEC_MAX_SLOTS; i++) {
        exec_slot_t *s = &l->ex.slots[i];
        int k = s->in_use ? dag_index(l, s->dag_id) : -1;
        const dag_t *d = k >= 0 ? &l->f->dags[k] : NULL;

        if (d == NULL)
            continue;
        if (!s->started_seen && atomic_load(&s->started) && connection(l, 0) == 0 &&
            store_try_started(&l->st, s->dag_id, s->run_id, s->task_id, s->try_number, s->pid, s->proc_start) == 0)
            s->started_seen = 1;
        if (atomic_load(&s->done) && (s->started_seen || s->start_failed || !atomic_load(&s->started))) {
            runner_result_t *r = &s->result;
            store_outcome_t out = s->start_failed ? TRY_FAILED
                                  : r->cancelled  ? TRY_HANDED_BACK
                                  : r->timed_out  ? TRY_TIMEOUT
                                  : r->exit_status == 0 ? TRY_SUCCESS
                                                        : TRY_FAILED;
            int ti = dag_task_index(d, s->task_id), w;

            if (connection(l, 0) != 0 ||
                (w = store_try_ended(&l->st, d, ti, s->run_id, s->try_number, out, r, ts_now_ms())) < 0)
                continue;
            if (w == 0)
                LOG_WARN("task %s.%s of %s, try %d: ended, but another scheduler took it over as a zombie "
                         "meanwhile; its end is not recorded", d->id, s->task_id, s->run_id, s->try_number);
            LOG_INFO("task %s.%s of %s, try %d: %s (exit status %d%s) in %.3f s", d->id, s->task_id, s->run_id,
                     s->try_number,
                     out == TRY_SUCCESS ? "success" : out == TRY_TIMEOUT ? "over its execution_timeout, killed"
                     : out == TRY_HANDED_BACK ? "handed back" : "failed",
                     r->exit_status, r->term_signal ? ", ended by a signal" : "", r->duration_ms / 1000.0);
            exec_release(s);
            /* Its DAG may go on, and a DAG that found the executor full
             * may start a try now: a pass over each at once. */
            for (int j = 0; j < l->f->n; j++)
                l->next_tick[j] = 0;
        }
    }
}

static void tick_due(loop_t *l, int64_t now)
{
    for (int i = 0; i < l->f->n && !term_requested(); i++) {
        const dag_t *d = &l->f->dags[i];
        store_claim_t claims[STORE_MAX_CLAIMS];
        int free_slots = l->ex.n - exec_running(&l->ex), n, active;
        int64_t next;

        if (l->next_tick[i] > now)
            continue;
        if (free_slots > STORE_MAX_CLAIMS)
            free_slots = STORE_MAX_CLAIMS;
        if ((n = store_tick(&l->st, d, now, claims, free_slots, &next, &active)) < 0) {
            l->next_tick[i] = now + 1000;
            continue;
        }
        for (int k = 0; k < n; k++)
            start_try(l, d, &claims[k]);
        /* Runs in flight: a pass every poll interval at least (what other
         * schedulers did, zombies). None: the next due run, a NOTIFY, or
         * a minute at most. */
        if (next > now + (active ? l->o->poll_ms : DAEMON_IDLE_PASS_MS))
            next = now + (active ? l->o->poll_ms : DAEMON_IDLE_PASS_MS);
        if (n == free_slots && n > 0)
            next = now;
        l->next_tick[i] = next;
    }
}

static void notifications(loop_t *l)
{
    PGnotify *n;

    if (l->st.conn == NULL || !l->listening || PQconsumeInput(l->st.conn) == 0)
        return;
    while ((n = PQnotifies(l->st.conn)) != NULL) {
        int k = dag_index(l, n->extra);
        for (int i = 0; i < l->f->n; i++)
            if (k < 0 || k == i)
                l->next_tick[i] = 0;
        PQfreemem(n);
    }
}

static int64_t earliest(const loop_t *l)
{
    int64_t t = l->next_heartbeat;

    for (int i = 0; i < l->f->n; i++)
        if (l->next_tick[i] < t)
            t = l->next_tick[i];
    return t;
}

/* Waits for events up to deadline (monotonic ms), writing the slots'. */
static void wait_tries(loop_t *l, int64_t deadline)
{
    while (exec_running(&l->ex) > 0 && ts_monotonic_ms() < deadline) {
        exec_wait(&l->ex, -1, 100);
        drain_slots(l);
    }
}

int daemon_run(const dag_file_t *f, const daemon_opts_t *o)
{
    loop_t *l = calloc(1, sizeof(*l));
    int rc = 1;

    if (l == NULL || exec_init(&l->ex, o->parallelism) != 0) {
        LOG_ERROR("out of memory");
        free(l);
        return 1;
    }
    l->f = f;
    l->o = o;
    l->st.zombie_ms = o->zombie_ms;
    l->st.owns = owns;
    l->st.owns_ctx = l;
    if (connection(l, o->connect_wait_ms) != 0 || store_register(&l->st) != 0 || store_sync_dags(&l->st, f) != 0)
        goto out;
    LOG_INFO("scheduler %lld on %s: %d DAGs, parallelism %d, a pass every %lld ms at least, heartbeat every %lld "
             "ms, zombies after %lld ms", (long long)l->st.job_id, l->st.hostname, f->n, l->ex.n,
             (long long)o->poll_ms, (long long)o->heartbeat_ms, (long long)o->zombie_ms);
    while (!term_requested()) {
        int64_t now = ts_now_ms(), wake;

        drain_slots(l);
        if (connection(l, 0) != 0) {
            exec_wait(&l->ex, -1, 1000);
            continue;
        }
        if (now >= l->next_heartbeat) {
            store_heartbeat(&l->st);
            l->next_heartbeat = now + o->heartbeat_ms;
        }
        tick_due(l, now);
        /* A NOTIFY read while a pass waited for its results sits in
         * libpq's buffer, not on the socket: take it before sleeping. */
        notifications(l);
        wake = earliest(l) - ts_now_ms();
        exec_wait(&l->ex, l->st.conn != NULL ? PQsocket(l->st.conn) : -1,
                  wake < 0 ? 0 : wake > o->poll_ms ? (int)o->poll_ms : (int)wake);
        notifications(l);
    }
    rc = 0;
    if (exec_running(&l->ex) > 0) {
        LOG_INFO("stopping: %d running tries get %lld ms to finish, then are ended and handed back",
                 exec_running(&l->ex), (long long)o->grace_ms);
        wait_tries(l, ts_monotonic_ms() + o->grace_ms);
        exec_cancel_all(&l->ex);
        wait_tries(l, ts_monotonic_ms() + RUNNER_GRACE_MS + 2000);
    }
    if (exec_running(&l->ex) > 0) {
        LOG_ERROR("stopping: %d tries' ends could not be recorded; the next scheduler will find them as zombies",
                  exec_running(&l->ex));
        rc = 1;
    }
    if (l->st.conn != NULL && PQstatus(l->st.conn) == CONNECTION_OK)
        store_end(&l->st);
    LOG_INFO("stopped");
out:
    exec_cancel_all(&l->ex);
    exec_destroy(&l->ex);
    PQfinish(l->st.conn);
    free(l);
    return rc;
}
