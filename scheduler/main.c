/*
 * main.c - ecom-scheduler's command line. So far (issue 11 in progress):
 * dags list, and tasks test (one task now, no history). The daemon loop and
 * the history in PostgreSQL come next. Logs on stderr; reports on stdout.
 */
#include "config.h"
#include "dag.h"
#include "elog.h"
#include "period.h"
#include "plan.h"
#include "runner.h"
#include "term.h"
#include "ts.h"

#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGNAME "ecom-scheduler"
#define OUTPUT_MAX (64 * 1024)

static const char *dags_path;
static int json_out;

static void usage(void)
{
    printf("%s fires the pipeline's batch and quality jobs on their schedules (the role\n"
           "Airflow plays in the original design). DAGs: scheduler/dags.conf.\n\n", PROGNAME);
    printf("Usage:\n"
           "  %s [OPTION]... dags list              the DAGs, their schedules and tasks\n"
           "  %s [OPTION]... tasks test DAG TASK DATE\n"
           "                        run one task now for the data interval starting at DATE\n"
           "                        (YYYY-MM-DD, YYYY-MM-DDTHH or an instant), output on stdout,\n"
           "                        exit status the task's (no history is kept)\n\n", PROGNAME, PROGNAME);
    printf("Options:\n"
           "      --dags=FILE   the DAG file (default: $ECOM_SCHEDULER_DAGS or scheduler/dags.conf)\n"
           "      --json        machine-readable output\n"
           "  -V, --version     print version and exit\n"
           "  -h, --help        show this help and exit\n\n"
           "Tasks run with /bin/sh -c in a process group of their own, with this program's\n"
           "directory first on PATH (so ecom-batch and ecom-quality are the ones built beside\n"
           "it); execution_timeout ends the whole group (SIGTERM, SIGKILL 5 s later).\n");
}

static void load(dag_file_t *f)
{
    char err[512];

    if (dag_file_load(dags_path, f, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", PROGNAME, err);
        exit(CONFIG_EXIT_USAGE);
    }
}

static int cmd_dags_list(void)
{
    char start[TS_RFC3339_LEN];
    dag_file_t f;
    json_t *arr = json_array();

    load(&f);
    if (!json_out)
        printf("%-28s %-16s %-20s %-7s %-4s %s\n", "dag_id", "schedule", "start_date", "catchup", "max",
               "tasks (in dependency order)");
    for (int i = 0; i < f.n; i++) {
        const dag_t *d = &f.dags[i];
        int order[DAG_MAX_TASKS];
        json_t *tasks = json_array();
        char list[512] = "";
        size_t off = 0;

        dag_topo_order(d, order);
        for (int k = 0; k < d->n_tasks; k++) {
            json_array_append_new(tasks, json_string(d->tasks[order[k]].id));
            if (off < sizeof(list))
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", k ? ", " : "",
                                        d->tasks[order[k]].id);
        }
        ts_format_rfc3339(d->start_date_ms, start);
        if (json_out)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:i, s:o}", "dag_id", d->id,
                                                 "schedule", d->schedule_text, "start_date", start,
                                                 "catchup", d->catchup, "max_active_runs",
                                                 d->max_active_runs, "tasks", tasks));
        else {
            json_decref(tasks);
            printf("%-28s %-16s %.19sZ %-7s %-4d %s\n", d->id, d->schedule_text, start,
                   d->catchup ? "true" : "false", d->max_active_runs, list);
        }
    }
    if (json_out) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
    }
    json_decref(arr);
    dag_file_free(&f);
    return 0;
}

/* Puts this program's directory first on PATH for the tasks. */
static void prepend_own_dir(void)
{
    char self[PATH_MAX], path[PATH_MAX * 2];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *old = getenv("PATH");

    if (n <= 0)
        return;
    self[n] = '\0';
    snprintf(path, sizeof(path), "%s:%s", dirname(self), old ? old : "/usr/bin:/bin");
    setenv("PATH", path, 1);
}

static int cmd_tasks_test(const char *dag_id, const char *task_id, const char *date)
{
    char err[512], command[8192], env_start[64], env_end[64], rfc[TS_RFC3339_LEN];
    char *env[] = {env_start, env_end, NULL};
    const dag_t *d;
    const dag_task_t *t;
    plan_context_t ctx;
    runner_result_t r;
    int64_t lo, hi;
    dag_file_t f;
    int ti, status;

    load(&f);
    if ((d = dag_find(&f, dag_id)) == NULL)
        config_usage_error("no DAG \"%s\" in %s", dag_id, dags_path);
    if ((ti = dag_task_index(d, task_id)) < 0)
        config_usage_error("no task \"%s\" in DAG \"%s\"", task_id, dag_id);
    if (period_parse(date, &lo, &hi, err, sizeof(err)) != 0)
        config_usage_error("invalid DATE: %s", err);
    t = &d->tasks[ti];
    ctx = (plan_context_t){d->id, t->id, lo, d->schedule.kind == CRON_EXPR ? plan_interval_end(d, lo) : lo};
    if (plan_render(t->command, &ctx, command, sizeof(command), err, sizeof(err)) != 0) {
        LOG_ERROR("task %s.%s: %s", d->id, t->id, err);
        dag_file_free(&f);
        return 1;
    }
    snprintf(env_start, sizeof(env_start), "ECOM_DATA_INTERVAL_START=%.19sZ", ts_format_rfc3339(ctx.start, rfc));
    snprintf(env_end, sizeof(env_end), "ECOM_DATA_INTERVAL_END=%.19sZ", ts_format_rfc3339(ctx.end, rfc));
    prepend_own_dir();
    LOG_INFO("task %s.%s for %s: %s", d->id, t->id, strchr(env_start, '=') + 1, command);
    if (runner_run(command, env, t->execution_timeout_ms, OUTPUT_MAX, &r) != 0) {
        LOG_ERROR("task %s.%s could not start", d->id, t->id);
        dag_file_free(&f);
        return 1;
    }
    fwrite(r.output, 1, r.output_len, stdout);
    status = r.exit_status == 0 ? 0 : 1;
    if (r.timed_out)
        LOG_ERROR("task %s.%s: over its execution_timeout of %lld s, its process group killed",
                  d->id, t->id, (long long)(t->execution_timeout_ms / 1000));
    LOG_INFO("task %s.%s: %s (exit status %d%s) in %.3f s%s", d->id, t->id, status ? "failed" : "success",
             r.exit_status, r.term_signal ? ", by a signal" : "", r.duration_ms / 1000.0,
             r.output_dropped ? ", output cut to its last 64 KiB" : "");
    runner_result_free(&r);
    dag_file_free(&f);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dags", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'J'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, n;

    config_start(PROGNAME);
    dags_path = config_env_str("ECOM_SCHEDULER_DAGS", "scheduler/dags.conf");
    opterr = 0;
    /* "+": options before the command only, as git does. */
    while ((c = getopt_long(argc, argv, "+:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'D': dags_path = optarg; break;
        case 'J': json_out = 1; break;
        case 'V': printf("%s %s\n", PROGNAME, ECOM_VERSION); return 0;
        case 'h': usage(); return 0;
        default: config_getopt_error(c, argv);
        }
    }
    n = argc - optind;
    argv += optind;
    term_install();
    if (n == 2 && strcmp(argv[0], "dags") == 0 && strcmp(argv[1], "list") == 0)
        return cmd_dags_list();
    if (n == 5 && strcmp(argv[0], "tasks") == 0 && strcmp(argv[1], "test") == 0)
        return cmd_tasks_test(argv[2], argv[3], argv[4]);
    if (n == 0)
        config_usage_error("no command (dags list, tasks test DAG TASK DATE)");
    config_usage_error("unknown command \"%s%s%s\" (dags list, tasks test DAG TASK DATE)", argv[0],
                       n > 1 ? " " : "", n > 1 ? argv[1] : "");
}
