/*
 * plan.c - the scheduler's pure decisions (see plan.h).
 */
#include "plan.h"

#include "ts.h"

#include <stdio.h>
#include <string.h>

static const char *const ti_names[] = {"none", "scheduled", "queued", "running", "success",
                                       "failed", "up_for_retry", "upstream_failed", "skipped"};
static const char *const run_names[] = {"queued", "running", "success", "failed"};

const char *plan_ti_state_name(plan_ti_state_t s)
{
    return (unsigned)s < 9 ? ti_names[s] : "?";
}

const char *plan_run_state_name(plan_run_state_t s)
{
    return (unsigned)s < 4 ? run_names[s] : "?";
}

int plan_ti_state_parse(const char *name)
{
    for (int i = 0; i < 9; i++)
        if (strcmp(ti_names[i], name) == 0)
            return i;
    return -1;
}

int plan_run_state_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(run_names[i], name) == 0)
            return i;
    return -1;
}

int plan_ti_done(plan_ti_state_t s)
{
    return s == TI_SUCCESS || s == TI_FAILED || s == TI_UPSTREAM_FAILED || s == TI_SKIPPED;
}

int64_t plan_interval_end(const dag_t *d, int64_t start)
{
    return d->schedule.kind == CRON_EXPR ? cron_next(&d->schedule, start) : start;
}

/* The first interval start: the first fire time at or after start_date. */
static int64_t first_start(const dag_t *d)
{
    return cron_next(&d->schedule, d->start_date_ms - 1);
}

/* Interval starts s with lo <= s (s > after) whose end <= now, at most max. */
static int collect(const dag_t *d, int64_t from, int64_t after, int64_t to, int64_t now,
                   int64_t *starts, int max)
{
    int n = 0;

    for (int64_t s = from; s >= 0 && s <= to && n < max; s = cron_next(&d->schedule, s)) {
        int64_t end = cron_next(&d->schedule, s);
        if (end < 0 || end > now)
            break;
        if (s > after)
            starts[n++] = s;
    }
    return n;
}

/* The start of the latest interval, not before first, whose end has
 * passed at now, or -1:
 * the last two fire times at or before now, found by walking forward
 * from a point far enough back to hold two of them (tried at growing
 * distances, so a minutely schedule walks a few minutes, a yearly one a
 * few years). */
static int64_t latest_start_after(const dag_t *d, int64_t first, int64_t now)
{
    static const int64_t spans[] = {2 * 60000LL, 2 * 3600000LL, 2 * 86400000LL, 64 * 86400000LL,
                                    800 * 86400000LL, 3700 * 86400000LL};

    if (first < 0 || first > now)
        return -1;
    for (size_t k = 0; k < sizeof(spans) / sizeof(spans[0]); k++) {
        int64_t from = now - spans[k], prev = -1, last = -1;
        int from_first = from <= first;

        if (from_first)
            from = first - 1;
        for (int64_t f = cron_next(&d->schedule, from); f >= 0 && f <= now; f = cron_next(&d->schedule, f)) {
            prev = last;
            last = f;
        }
        if (prev >= 0)
            return prev;
        if (from_first)
            return -1;
    }
    return -1;
}

/* The latest due interval's start, of the DAG's own (from start_date). */
static int64_t latest_due_start(const dag_t *d, int64_t now)
{
    return latest_start_after(d, first_start(d), now);
}

int plan_due(const dag_t *d, int64_t last_start, int64_t now, int64_t *starts, int max)
{
    int64_t s;

    if (max <= 0 || d->schedule.kind == CRON_NONE)
        return 0;
    if (d->schedule.kind == CRON_ONCE) {
        if (last_start != INT64_MIN || now < d->start_date_ms)
            return 0;
        starts[0] = d->start_date_ms;
        return 1;
    }
    if (d->catchup) {
        s = last_start == INT64_MIN ? first_start(d) : cron_next(&d->schedule, last_start);
        return collect(d, s, last_start, INT64_MAX, now, starts, max);
    }
    s = latest_due_start(d, now);
    if (s < 0 || s <= last_start)
        return 0;
    starts[0] = s;
    return 1;
}

int64_t plan_next_due(const dag_t *d, int64_t last_start, int64_t now)
{
    int64_t s, latest;

    if (d->schedule.kind == CRON_NONE)
        return INT64_MAX;
    if (d->schedule.kind == CRON_ONCE)
        return last_start != INT64_MIN ? INT64_MAX : d->start_date_ms;
    if (d->catchup || last_start == INT64_MIN)
        s = last_start == INT64_MIN ? first_start(d) : cron_next(&d->schedule, last_start);
    else {
        /* Without catchup the next run is the latest interval: if one
         * newer than last_start is due already, now, else the one after. */
        latest = latest_due_start(d, now);
        s = latest > last_start ? latest : cron_next(&d->schedule, last_start > latest ? last_start : latest);
    }
    if (s < 0)
        return INT64_MAX;
    s = cron_next(&d->schedule, s);
    return s < 0 ? INT64_MAX : s;
}

void plan_manual_interval(const dag_t *d, int64_t logical, int64_t *start, int64_t *end)
{
    /* Not bounded by start_date: a run by hand may be for any time. */
    int64_t s = d->schedule.kind == CRON_EXPR ? latest_start_after(d, 0, logical) : -1;

    *start = s >= 0 ? s : logical;
    *end = s >= 0 ? cron_next(&d->schedule, s) : logical;
}

int plan_backfill(const dag_t *d, int64_t from, int64_t to, int64_t now, int64_t *starts, int max)
{
    if (d->schedule.kind != CRON_EXPR || max <= 0)
        return 0;
    return collect(d, cron_next(&d->schedule, from - 1), INT64_MIN, to, now, starts, max);
}

plan_zombie_t plan_zombie(const plan_claim_t *c, int64_t threshold_ms)
{
    if (c->ours)
        return c->ours_running ? ZOMBIE_NO : ZOMBIE_UNOWNED;
    if (c->ended)
        return ZOMBIE_ENDED;
    if (c->same_host && !c->alive)
        return ZOMBIE_GONE;
    return c->silent_ms > threshold_ms ? ZOMBIE_SILENT : ZOMBIE_NO;
}

const char *plan_zombie_reason(plan_zombie_t z)
{
    static const char *const names[] = {"not a zombie", "claimed by this scheduler, with no try running",
                                        "its scheduler ended", "its scheduler's process is gone",
                                        "its scheduler's heartbeat stopped"};
    return names[z];
}

const char *plan_backfill_action(const char *run_state, int reprocess)
{
    if (run_state == NULL)
        return "create";
    if (strcmp(run_state, "queued") == 0 || strcmp(run_state, "running") == 0)
        return "skip";
    if (reprocess == 2)
        return "rerun";
    return strcmp(run_state, "failed") == 0 && reprocess == 1 ? "rerun_failed" : "skip";
}

plan_verdict_t plan_task(const dag_t *d, int i, const plan_ti_state_t *states)
{
    const dag_task_t *t = &d->tasks[i];
    int done = 0, success = 0, failed = 0, skipped = 0, n = t->n_upstream;

    for (int k = 0; k < n; k++) {
        plan_ti_state_t s = states[t->upstream[k]];
        done += plan_ti_done(s);
        success += s == TI_SUCCESS;
        failed += s == TI_FAILED || s == TI_UPSTREAM_FAILED;
        skipped += s == TI_SKIPPED;
    }
    switch (t->trigger_rule) {
    case TRIGGER_ALL_SUCCESS:
        if (failed > 0)
            return PLAN_UPSTREAM_FAILED;
        if (skipped > 0)
            return PLAN_SKIP;
        return success == n ? PLAN_RUN : PLAN_WAIT;
    case TRIGGER_ALL_FAILED:
        if (success > 0 || skipped > 0)
            return PLAN_SKIP;
        return failed == n ? PLAN_RUN : PLAN_WAIT;
    case TRIGGER_ALL_DONE:
        return done == n ? PLAN_RUN : PLAN_WAIT;
    case TRIGGER_ONE_SUCCESS:
        if (success > 0 || n == 0)
            return PLAN_RUN;
        return done == n ? PLAN_UPSTREAM_FAILED : PLAN_WAIT;
    case TRIGGER_ONE_FAILED:
        if (failed > 0 || n == 0)
            return PLAN_RUN;
        return done == n ? PLAN_SKIP : PLAN_WAIT;
    case TRIGGER_NONE_FAILED:
        if (failed > 0)
            return PLAN_UPSTREAM_FAILED;
        return done == n ? PLAN_RUN : PLAN_WAIT;
    }
    return PLAN_WAIT;
}

int64_t plan_retry_delay(const dag_task_t *t, int try_number)
{
    int64_t delay = t->retry_delay_ms;

    if (t->retry_exponential_backoff)
        for (int k = 2; k < try_number && delay < t->max_retry_delay_ms; k++)
            delay *= 2;
    return delay < t->max_retry_delay_ms ? delay : t->max_retry_delay_ms;
}

plan_run_state_t plan_run_state(const dag_t *d, const plan_ti_state_t *states)
{
    int downstream[DAG_MAX_TASKS] = {0}, failed = 0;

    for (int i = 0; i < d->n_tasks; i++) {
        if (!plan_ti_done(states[i]))
            return RUN_RUNNING;
        for (int k = 0; k < d->tasks[i].n_upstream; k++)
            downstream[d->tasks[i].upstream[k]] = 1;
    }
    for (int i = 0; i < d->n_tasks; i++)
        failed += !downstream[i] && (states[i] == TI_FAILED || states[i] == TI_UPSTREAM_FAILED);
    return failed ? RUN_FAILED : RUN_SUCCESS;
}

/* The value of placeholder name (len bytes) into buf, or NULL. */
static const char *placeholder(const char *name, size_t len, const plan_context_t *ctx, char *buf,
                               size_t bufsize)
{
    char rfc[TS_RFC3339_LEN];

#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (IS("ds") || IS("ds_nodash")) {
        ts_format_rfc3339(ctx->start, rfc);
        if (IS("ds"))
            snprintf(buf, bufsize, "%.10s", rfc);
        else
            snprintf(buf, bufsize, "%.4s%.2s%.2s", rfc, rfc + 5, rfc + 8);
    } else if (IS("ts") || IS("data_interval_start")) {
        snprintf(buf, bufsize, "%.19sZ", ts_format_rfc3339(ctx->start, rfc));
    } else if (IS("data_interval_end")) {
        snprintf(buf, bufsize, "%.19sZ", ts_format_rfc3339(ctx->end, rfc));
    } else if (IS("dag_id")) {
        snprintf(buf, bufsize, "%s", ctx->dag_id);
    } else if (IS("task_id")) {
        snprintf(buf, bufsize, "%s", ctx->task_id);
    } else {
        return NULL;
    }
#undef IS
    return buf;
}

int plan_render(const char *command, const plan_context_t *ctx, char *out, size_t outsize, char *err,
                size_t errsize)
{
    const char *p = command;
    size_t off = 0;

    while (*p != '\0') {
        const char *open = strstr(p, "{{"), *close, *name, *end;
        char value[128];
        const char *v;
        size_t n = open ? (size_t)(open - p) : strlen(p);

        if (off + n >= outsize)
            goto full;
        memcpy(out + off, p, n);
        off += n;
        if (open == NULL)
            break;
        if ((close = strstr(open + 2, "}}")) == NULL) {
            snprintf(err, errsize, "unclosed {{ in \"%.60s\"", command);
            return -1;
        }
        for (name = open + 2; *name == ' '; name++)
            ;
        for (end = close; end > name && end[-1] == ' '; end--)
            ;
        if ((v = placeholder(name, (size_t)(end - name), ctx, value, sizeof(value))) == NULL) {
            snprintf(err, errsize, "unknown placeholder {{ %.*s }} (ds, ds_nodash, ts, data_interval_start, "
                                   "data_interval_end, dag_id, task_id)", (int)(end - name), name);
            return -1;
        }
        n = strlen(v);
        if (off + n >= outsize)
            goto full;
        memcpy(out + off, v, n);
        off += n;
        p = close + 2;
    }
    out[off] = '\0';
    return 0;
full:
    snprintf(err, errsize, "the command is longer than %zu bytes once filled in", outsize - 1);
    return -1;
}
