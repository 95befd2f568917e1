/*
 * test_dag.c - ecom-scheduler's DAG file (scheduler/dag.c): the shipped
 * scheduler/dags.conf, defaults, every kind of mistake reported with its
 * file and line, cycles named, and the dependency order.
 */
#include "dag.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_shipped_file(void **state)
{
    dag_file_t f;
    char err[512] = "";
    const dag_t *d;
    int order[DAG_MAX_TASKS];
    (void)state;

    if (dag_file_load(ECOM_SOURCE_DIR "/scheduler/dags.conf", &f, err, sizeof(err)) != 0)
        fail_msg("dags.conf refused: %s", err);
    assert_int_equal(f.n, 5);
    assert_non_null(d = dag_find(&f, "ecommerce_pipeline_hourly"));
    assert_int_equal(d->n_tasks, 3);
    assert_int_equal(d->catchup, 0);
    assert_int_equal(d->max_active_runs, 1);
    assert_int_equal(d->schedule.kind, CRON_EXPR);
    /* hourly_sales -> quality_checks -> exports */
    dag_topo_order(d, order);
    assert_string_equal(d->tasks[order[0]].id, "hourly_sales");
    assert_string_equal(d->tasks[order[1]].id, "quality_checks");
    assert_string_equal(d->tasks[order[2]].id, "exports");
    assert_int_equal(d->tasks[0].retries, 2);
    assert_int_equal(d->tasks[0].retry_delay_ms, 30000);
    assert_int_equal(d->tasks[0].max_retry_delay_ms, 300000);
    assert_int_equal(d->tasks[0].execution_timeout_ms, 600000);
    assert_true(d->tasks[0].retry_exponential_backoff);
    assert_non_null(dag_find(&f, "data_quality_dag"));
    dag_file_free(&f);
}

static void test_defaults(void **state)
{
    static const char text[] = "[dag d]\n[task a]\ncommand = true\n";
    dag_file_t f;
    char err[256];
    (void)state;

    assert_int_equal(dag_file_parse(text, "t.conf", &f, err, sizeof(err)), 0);
    assert_int_equal(f.dags[0].catchup, 1);
    assert_int_equal(f.dags[0].max_active_runs, 16);
    assert_int_equal(f.dags[0].schedule.kind, CRON_NONE);
    assert_int_equal(f.dags[0].tasks[0].retries, 0);
    assert_int_equal(f.dags[0].tasks[0].retry_delay_ms, 300000);
    assert_int_equal(f.dags[0].tasks[0].max_retry_delay_ms, 86400000);
    assert_int_equal(f.dags[0].tasks[0].execution_timeout_ms, 0);
    assert_int_equal(f.dags[0].tasks[0].trigger_rule, TRIGGER_ALL_SUCCESS);
    assert_string_equal(f.dags[0].tasks[0].command, "true");
    dag_file_free(&f);
}

static void expect_error(const char *text, const char *want)
{
    dag_file_t f;
    char err[512] = "";

    assert_int_equal(dag_file_parse(text, "t.conf", &f, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", want, err);
    assert_null(f.dags);
}

static void test_mistakes(void **state)
{
    (void)state;
    expect_error("[dag d]\nschedule = 61 * * * *\n[task a]\ncommand = x\n",
                 "t.conf:2: schedule of DAG \"d\": minute field \"61\"");
    expect_error("[dag d]\n\n# c\n[task a]\ncommand = x\nretires = 2\n",
                 "t.conf:6: unknown key \"retires\" in task \"a\"");
    expect_error("[dag d]\n[task a]\ncommand = x\nupstream = b\n",
                 "t.conf:2: task \"a\": upstream task \"b\" is not in DAG \"d\"");
    expect_error("[dag d]\n[task a]\ncommand = x\n[task a]\ncommand = y\n",
                 "t.conf:4: task \"a\" is defined twice");
    expect_error("[dag d]\n[task a]\nretries = 1\n", "t.conf:2: task \"a\" of DAG \"d\" has no command");
    expect_error("[task a]\ncommand = x\n", "t.conf:1: task \"a\" comes before any [dag]");
    expect_error("[dag d]\n[task a]\ncommand = x\nretry_delay = soon\n",
                 "t.conf:4: retry_delay of task \"a\": expected a duration");
    expect_error("[dag d]\ncatchup = maybe\n[task a]\ncommand = x\n", "t.conf:2: catchup of DAG \"d\"");
    expect_error("[dag d]\nstart_date = 2026-02-30\n[task a]\ncommand = x\n",
                 "t.conf:2: start_date of DAG \"d\": day 30 out of range");
    expect_error("[dag d]\n[task a]\ncommand = x\ntrigger_rule = sometimes\n", "unknown rule \"sometimes\"");
    expect_error("[dag d]\n[task a]\ncommand = x\nnonsense\n", "t.conf:4: expected KEY = VALUE");
    expect_error("[dag d\n", "t.conf:1: a section header must end with ]");
    expect_error("[job d]\n", "unknown section \"job\"");
    expect_error("[dag d e]\n", "bad name");
    expect_error("[dag d]\n[dag e]\n[task a]\ncommand = x\n", "t.conf:1: DAG \"d\" has no task");
    expect_error("# nothing\n", "no [dag] in the file");
    expect_error("[dag d]\n[task a]\ncommand = x\nupstream = a\n", "task \"a\" is its own upstream");
    expect_error("[dag d]\n[task a]\ncommand = x\nupstream = c\n[task b]\ncommand = x\nupstream = a\n"
                 "[task c]\ncommand = x\nupstream = b\n",
                 "t.conf:2: dependency cycle in DAG \"d\": a -> c -> b -> a");
}

static void test_order(void **state)
{
    static const char text[] = "[dag d]\n"
                               "[task report]\ncommand = r\nupstream = load, check\n"
                               "[task check]\ncommand = c\nupstream = load\n"
                               "[task load]\ncommand = l\n"
                               "[task other]\ncommand = o\n";
    dag_file_t f;
    char err[256];
    int order[DAG_MAX_TASKS];
    (void)state;

    assert_int_equal(dag_file_parse(text, "t.conf", &f, err, sizeof(err)), 0);
    dag_topo_order(&f.dags[0], order);
    /* load first (nothing before it), then check, then report; other is
     * free and comes where file order puts it among the ready ones. */
    assert_string_equal(f.dags[0].tasks[order[0]].id, "load");
    assert_string_equal(f.dags[0].tasks[order[1]].id, "check");
    assert_string_equal(f.dags[0].tasks[order[2]].id, "report");
    assert_string_equal(f.dags[0].tasks[order[3]].id, "other");
    assert_int_equal(f.dags[0].tasks[0].n_upstream, 2);
    dag_file_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_mistakes),
        cmocka_unit_test(test_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
