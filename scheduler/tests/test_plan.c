/*
 * test_plan.c - ecom-scheduler's decisions (scheduler/plan.c): due runs
 * with and without catchup, @once and none, backfill ranges, when the next
 * run is due, a manual run's interval, zombies, backfill actions, every trigger
 * rule, retry delays with backoff and cap, and DAG run states. The clock
 * is a number.
 */
#include "plan.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int64_t at(const char *rfc3339)
{
    int64_t t;
    assert_int_equal(ts_parse_rfc3339(rfc3339, &t), 0);
    return t;
}

static dag_file_t file;

static const dag_t *load(const char *text)
{
    char err[512] = "";

    dag_file_free(&file);
    if (dag_file_parse(text, "t.conf", &file, err, sizeof(err)) != 0)
        fail_msg("refused: %s", err);
    return &file.dags[0];
}

static const dag_t *dag(const char *schedule, const char *start, int catchup)
{
    static char text[512];
    snprintf(text, sizeof(text), "[dag d]\nschedule = %s\nstart_date = %s\ncatchup = %s\n[task a]\ncommand = x\n",
             schedule, start, catchup ? "true" : "false");
    return load(text);
}

/* The due starts as "HH:MM"-free RFC 3339 text, comma-separated. */
static const char *due(const dag_t *d, const char *last, const char *now)
{
    static char out[1024];
    int64_t starts[64];
    int n = plan_due(d, last ? at(last) : INT64_MIN, at(now), starts, 64);
    size_t off = 0;

    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        char b[TS_RFC3339_LEN];
        off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%s", i ? "," : "", ts_format_rfc3339(starts[i], b));
    }
    return out;
}

static void test_due(void **state)
{
    const dag_t *d;
    int64_t starts[2];
    (void)state;

    d = dag("@hourly", "2026-12-01", 1);
    assert_string_equal(due(d, NULL, "2026-12-01T03:30:00Z"),
                        "2026-12-01T00:00:00.000Z,2026-12-01T01:00:00.000Z,2026-12-01T02:00:00.000Z");
    assert_string_equal(due(d, "2026-12-01T01:00:00Z", "2026-12-01T03:30:00Z"), "2026-12-01T02:00:00.000Z");
    assert_string_equal(due(d, "2026-12-01T02:00:00Z", "2026-12-01T03:30:00Z"), "");
    /* The interval is due exactly at its end, not before. */
    assert_string_equal(due(d, "2026-12-01T02:00:00Z", "2026-12-01T03:59:59.999Z"), "");
    assert_string_equal(due(d, "2026-12-01T02:00:00Z", "2026-12-01T04:00:00Z"), "2026-12-01T03:00:00.000Z");
    assert_string_equal(due(d, NULL, "2026-11-30T23:00:00Z"), ""); /* before start_date */
    /* At most max, the oldest. */
    assert_int_equal(plan_due(d, INT64_MIN, at("2026-12-02T00:00:00Z"), starts, 2), 2);
    assert_int_equal(starts[1], at("2026-12-01T01:00:00Z"));

    d = dag("@hourly", "2026-12-01", 0);
    assert_string_equal(due(d, NULL, "2026-12-01T03:30:00Z"), "2026-12-01T02:00:00.000Z");
    assert_string_equal(due(d, "2026-12-01T02:00:00Z", "2026-12-01T03:30:00Z"), "");
    assert_string_equal(due(d, NULL, "2026-12-01T00:59:00Z"), ""); /* no interval over yet */

    /* A daily schedule at 00:15 starting on a day: [12-01 00:15, 12-02 00:15) ... */
    d = dag("15 0 * * *", "2026-12-01", 1);
    assert_string_equal(due(d, NULL, "2026-12-03T00:20:00Z"),
                        "2026-12-01T00:15:00.000Z,2026-12-02T00:15:00.000Z");
    d = dag("15 0 * * *", "2026-12-01", 0);
    assert_string_equal(due(d, NULL, "2026-12-03T00:20:00Z"), "2026-12-02T00:15:00.000Z");
    /* No catchup, years behind, sparse and dense schedules. */
    d = dag("@yearly", "2020-01-01", 0);
    assert_string_equal(due(d, NULL, "2026-12-01T00:00:00Z"), "2025-01-01T00:00:00.000Z");
    d = dag("* * * * *", "2020-01-01", 0);
    assert_string_equal(due(d, NULL, "2026-12-01T10:00:30Z"), "2026-12-01T09:59:00.000Z");
    d = dag("0 0 29 2 *", "2020-01-01", 0);
    assert_string_equal(due(d, NULL, "2026-12-01T00:00:00Z"), "2020-02-29T00:00:00.000Z");

    d = dag("@once", "2026-12-01T10", 1);
    assert_string_equal(due(d, NULL, "2026-12-01T09:00:00Z"), "");
    assert_string_equal(due(d, NULL, "2026-12-01T10:00:00Z"), "2026-12-01T10:00:00.000Z");
    assert_string_equal(due(d, "2026-12-01T10:00:00Z", "2026-12-05T00:00:00Z"), "");
    assert_int_equal(plan_interval_end(d, at("2026-12-01T10:00:00Z")), at("2026-12-01T10:00:00Z"));
    d = dag("none", "2026-12-01", 1);
    assert_string_equal(due(d, NULL, "2027-01-01T00:00:00Z"), "");
}

static void test_backfill(void **state)
{
    const dag_t *d = dag("@hourly", "2026-12-01", 0);
    int64_t starts[64];
    (void)state;

    assert_int_equal(plan_backfill(d, at("2026-12-01T00:00:00Z"), at("2026-12-01T05:00:00Z"),
                                   at("2026-12-02T00:00:00Z"), starts, 64), 6);
    assert_int_equal(starts[0], at("2026-12-01T00:00:00Z"));
    assert_int_equal(starts[5], at("2026-12-01T05:00:00Z"));
    /* Only intervals that are over; from rounds up to a fire time. */
    assert_int_equal(plan_backfill(d, at("2026-12-01T00:30:00Z"), at("2026-12-03T00:00:00Z"),
                                   at("2026-12-01T04:10:00Z"), starts, 64), 3);
    assert_int_equal(starts[0], at("2026-12-01T01:00:00Z"));
    assert_int_equal(plan_interval_end(d, starts[0]), at("2026-12-01T02:00:00Z"));
}

/* When the next run becomes due, which the daemon sleeps until. */
static void test_next_due(void **state)
{
    const dag_t *d = dag("@hourly", "2026-12-01", 1);
    (void)state;

    /* No run yet: the first interval's end. */
    assert_int_equal(plan_next_due(d, INT64_MIN, at("2026-11-30T12:00:00Z")), at("2026-12-01T01:00:00Z"));
    /* Catchup: the interval after the last one, due already when late. */
    assert_int_equal(plan_next_due(d, at("2026-12-01T03:00:00Z"), at("2026-12-01T09:30:00Z")),
                     at("2026-12-01T05:00:00Z"));
    /* No catchup: the latest interval when newer than the last run... */
    d = dag("@hourly", "2026-12-01", 0);
    assert_int_equal(plan_next_due(d, at("2026-12-01T03:00:00Z"), at("2026-12-01T09:30:00Z")),
                     at("2026-12-01T09:00:00Z"));
    /* ...else the end of the one after it. */
    assert_int_equal(plan_next_due(d, at("2026-12-01T08:00:00Z"), at("2026-12-01T09:30:00Z")),
                     at("2026-12-01T10:00:00Z"));
    d = dag("30 0 * * MON", "2026-11-30", 0);
    assert_int_equal(plan_next_due(d, at("2026-11-30T00:30:00Z"), at("2026-12-02T18:00:00Z")),
                     at("2026-12-14T00:30:00Z"));
    d = dag("@once", "2026-12-01T06:00:00Z", 0);
    assert_int_equal(plan_next_due(d, INT64_MIN, at("2026-11-01T00:00:00Z")), at("2026-12-01T06:00:00Z"));
    assert_true(plan_next_due(d, at("2026-12-01T06:00:00Z"), at("2026-12-02T00:00:00Z")) == INT64_MAX);
    assert_true(plan_next_due(dag("none", "2026-12-01", 0), INT64_MIN, at("2026-12-02T00:00:00Z")) == INT64_MAX);
}

/* A run by hand covers the last complete interval at its logical date, as
 * Airflow infers it, before start_date too. */
static void test_manual_interval(void **state)
{
    int64_t s, e;
    (void)state;

    plan_manual_interval(dag("@hourly", "2026-12-01", 0), at("2026-11-20T11:00:00Z"), &s, &e);
    assert_int_equal(s, at("2026-11-20T10:00:00Z"));
    assert_int_equal(e, at("2026-11-20T11:00:00Z"));
    plan_manual_interval(dag("@hourly", "2026-12-01", 0), at("2026-12-02T10:23:00Z"), &s, &e);
    assert_int_equal(s, at("2026-12-02T09:00:00Z"));
    assert_int_equal(e, at("2026-12-02T10:00:00Z"));
    plan_manual_interval(dag("15 0 * * *", "2026-12-01", 0), at("2026-12-02T00:10:00Z"), &s, &e);
    assert_int_equal(s, at("2026-11-30T00:15:00Z"));
    assert_int_equal(e, at("2026-12-01T00:15:00Z"));
    plan_manual_interval(dag("none", "2026-12-01", 0), at("2026-12-02T10:23:00Z"), &s, &e);
    assert_int_equal(s, at("2026-12-02T10:23:00Z"));
    assert_int_equal(e, s);
}

static void test_zombies(void **state)
{
    plan_claim_t c = {0};
    (void)state;

    c.ours = 1, c.ours_running = 1;
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_NO);
    c.ours_running = 0; /* a claim whose commit's result was lost */
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_UNOWNED);
    c = (plan_claim_t){.ended = 1, .same_host = 1, .alive = 1};
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_ENDED);
    c = (plan_claim_t){.same_host = 1, .alive = 0, .silent_ms = 10};
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_GONE);
    /* Alive on this host, or elsewhere: only the heartbeat can tell. */
    c = (plan_claim_t){.same_host = 1, .alive = 1, .silent_ms = 29999};
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_NO);
    c.silent_ms = 30001;
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_SILENT);
    c = (plan_claim_t){.silent_ms = 30000};
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_NO);
    c.silent_ms = 30001;
    assert_int_equal(plan_zombie(&c, 30000), ZOMBIE_SILENT);
    assert_string_equal(plan_zombie_reason(ZOMBIE_GONE), "its scheduler's process is gone");
}

static void test_backfill_actions(void **state)
{
    (void)state;

    for (int r = 0; r <= 2; r++) {
        assert_string_equal(plan_backfill_action(NULL, r), "create");
        assert_string_equal(plan_backfill_action("queued", r), "skip");
        assert_string_equal(plan_backfill_action("running", r), "skip");
    }
    assert_string_equal(plan_backfill_action("failed", 0), "skip");
    assert_string_equal(plan_backfill_action("failed", 1), "rerun_failed");
    assert_string_equal(plan_backfill_action("failed", 2), "rerun");
    assert_string_equal(plan_backfill_action("success", 0), "skip");
    assert_string_equal(plan_backfill_action("success", 1), "skip");
    assert_string_equal(plan_backfill_action("success", 2), "rerun");
}

static const char rules_dag[] = "[dag d]\n"
                                "[task u1]\ncommand = x\n"
                                "[task u2]\ncommand = x\n"
                                "[task t]\ncommand = x\nupstream = u1, u2\ntrigger_rule = %s\n";

static plan_verdict_t verdict(const char *rule, plan_ti_state_t a, plan_ti_state_t b)
{
    char text[512];
    plan_ti_state_t states[3] = {a, b, TI_NONE};

    snprintf(text, sizeof(text), rules_dag, rule);
    return plan_task(load(text), 2, states);
}

static void test_trigger_rules(void **state)
{
    (void)state;
    assert_int_equal(verdict("all_success", TI_SUCCESS, TI_SUCCESS), PLAN_RUN);
    assert_int_equal(verdict("all_success", TI_SUCCESS, TI_RUNNING), PLAN_WAIT);
    assert_int_equal(verdict("all_success", TI_SUCCESS, TI_UP_FOR_RETRY), PLAN_WAIT);
    assert_int_equal(verdict("all_success", TI_FAILED, TI_RUNNING), PLAN_UPSTREAM_FAILED);
    assert_int_equal(verdict("all_success", TI_UPSTREAM_FAILED, TI_SUCCESS), PLAN_UPSTREAM_FAILED);
    assert_int_equal(verdict("all_success", TI_SKIPPED, TI_SUCCESS), PLAN_SKIP);
    assert_int_equal(verdict("all_failed", TI_FAILED, TI_UPSTREAM_FAILED), PLAN_RUN);
    assert_int_equal(verdict("all_failed", TI_FAILED, TI_SUCCESS), PLAN_SKIP);
    assert_int_equal(verdict("all_failed", TI_FAILED, TI_RUNNING), PLAN_WAIT);
    assert_int_equal(verdict("all_done", TI_FAILED, TI_SKIPPED), PLAN_RUN);
    assert_int_equal(verdict("all_done", TI_FAILED, TI_QUEUED), PLAN_WAIT);
    assert_int_equal(verdict("one_success", TI_SUCCESS, TI_RUNNING), PLAN_RUN);
    assert_int_equal(verdict("one_success", TI_FAILED, TI_RUNNING), PLAN_WAIT);
    assert_int_equal(verdict("one_success", TI_FAILED, TI_SKIPPED), PLAN_UPSTREAM_FAILED);
    assert_int_equal(verdict("one_failed", TI_FAILED, TI_RUNNING), PLAN_RUN);
    assert_int_equal(verdict("one_failed", TI_SUCCESS, TI_SUCCESS), PLAN_SKIP);
    assert_int_equal(verdict("none_failed", TI_SUCCESS, TI_SKIPPED), PLAN_RUN);
    assert_int_equal(verdict("none_failed", TI_SUCCESS, TI_FAILED), PLAN_UPSTREAM_FAILED);
    assert_int_equal(verdict("none_failed", TI_SUCCESS, TI_RUNNING), PLAN_WAIT);
    /* A task without upstream runs at once. */
    {
        plan_ti_state_t states[3] = {TI_NONE, TI_NONE, TI_NONE};
        char text[512];
        snprintf(text, sizeof(text), rules_dag, "all_success");
        assert_int_equal(plan_task(load(text), 0, states), PLAN_RUN);
    }
}

static void test_retry_delays(void **state)
{
    const dag_t *d = load("[dag d]\n[task a]\ncommand = x\nretry_delay = 30s\n"
                          "retry_exponential_backoff = true\nmax_retry_delay = 5m\n"
                          "[task b]\ncommand = x\nretry_delay = 1m\n");
    (void)state;

    assert_int_equal(plan_retry_delay(&d->tasks[0], 2), 30000);
    assert_int_equal(plan_retry_delay(&d->tasks[0], 3), 60000);
    assert_int_equal(plan_retry_delay(&d->tasks[0], 4), 120000);
    assert_int_equal(plan_retry_delay(&d->tasks[0], 5), 240000);
    assert_int_equal(plan_retry_delay(&d->tasks[0], 6), 300000); /* capped */
    assert_int_equal(plan_retry_delay(&d->tasks[0], 60), 300000);
    assert_int_equal(plan_retry_delay(&d->tasks[1], 2), 60000);
    assert_int_equal(plan_retry_delay(&d->tasks[1], 9), 60000);   /* no backoff */
}

static void test_run_state(void **state)
{
    const dag_t *d = load("[dag d]\n[task a]\ncommand = x\n[task b]\ncommand = x\nupstream = a\n"
                          "[task c]\ncommand = x\nupstream = a\ntrigger_rule = one_failed\n");
    plan_ti_state_t s[3];
    (void)state;

    memcpy(s, (plan_ti_state_t[]){TI_SUCCESS, TI_RUNNING, TI_SKIPPED}, sizeof(s));
    assert_int_equal(plan_run_state(d, s), RUN_RUNNING);
    memcpy(s, (plan_ti_state_t[]){TI_SUCCESS, TI_SUCCESS, TI_SKIPPED}, sizeof(s));
    assert_int_equal(plan_run_state(d, s), RUN_SUCCESS);
    /* a failed, but its handler c ran and succeeded; b is upstream_failed, a leaf. */
    memcpy(s, (plan_ti_state_t[]){TI_FAILED, TI_UPSTREAM_FAILED, TI_SUCCESS}, sizeof(s));
    assert_int_equal(plan_run_state(d, s), RUN_FAILED);
    assert_string_equal(plan_run_state_name(RUN_FAILED), "failed");
    assert_int_equal(plan_ti_state_parse("up_for_retry"), TI_UP_FOR_RETRY);
    assert_int_equal(plan_ti_state_parse("nope"), -1);
}

static void test_render(void **state)
{
    plan_context_t ctx = {"pipe", "load", 0, 0};
    char out[256], err[256];
    (void)state;

    ctx.start = at("2026-12-01T10:00:00Z");
    ctx.end = at("2026-12-01T11:00:00Z");
    assert_int_equal(plan_render("ecom-batch hourly-sales --for {{ data_interval_start }} # {{ds}} {{ ds_nodash }}"
                                 " {{ data_interval_end }} {{ dag_id }}.{{ task_id }} {{ ts }}",
                                 &ctx, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "ecom-batch hourly-sales --for 2026-12-01T10:00:00Z # 2026-12-01 20261201"
                             " 2026-12-01T11:00:00Z pipe.load 2026-12-01T10:00:00Z");
    assert_int_equal(plan_render("no placeholders", &ctx, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "no placeholders");
    assert_int_equal(plan_render("x {{ next_ds }}", &ctx, out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown placeholder {{ next_ds }}"));
    assert_int_equal(plan_render("x {{ ds", &ctx, out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unclosed"));
    assert_int_equal(plan_render("{{ ds }}{{ ds }}", &ctx, out, 12, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 11 bytes"));
}

static int teardown(void **state)
{
    (void)state;
    dag_file_free(&file);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due),
        cmocka_unit_test(test_backfill),
        cmocka_unit_test(test_next_due),
        cmocka_unit_test(test_manual_interval),
        cmocka_unit_test(test_zombies),
        cmocka_unit_test(test_backfill_actions),
        cmocka_unit_test(test_trigger_rules),
        cmocka_unit_test(test_retry_delays),
        cmocka_unit_test(test_run_state),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
