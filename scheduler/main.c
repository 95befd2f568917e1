/*
 * main.c - ecom-scheduler's command line: its options and commands, dags
 * list and tasks test (no database), the daemon (daemon.c) and the
 * commands on the history (cli.c). Logs on stderr; reports on stdout.
 */
#include "cli.h"
#include "config.h"
#include "daemon.h"
#include "dag.h"
#include "elog.h"
#include "exec.h"
#include "period.h"
#include "plan.h"
#include "runner.h"
#include "term.h"
#include "ts.h"

#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <regex.h>
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
    printf("%s fires the pipeline's batch and quality jobs on their schedules, in\n"
           "dependency order, with retries, keeping every run in PostgreSQL (the role\n"
           "Airflow plays in the original design). DAGs: scheduler/dags.conf.\n\n", PROGNAME);
    printf("Usage: %s [OPTION]... COMMAND\n\n"
           "  run                               the scheduler daemon (until SIGINT/SIGTERM)\n"
           "  dags list                         the DAGs, their schedules and tasks\n"
           "  dags trigger DAG [--conf JSON] [--logical-date D]\n"
           "                                    queue a manual run (interval: the last complete\n"
           "                                    one at D, as Airflow infers it)\n"
           "  dags list-runs DAG [--state S] [--limit N]\n"
           "  tasks test DAG TASK DATE          run one task now for the interval starting at\n"
           "                                    DATE, output on stdout, no history kept\n"
           "  tasks clear DAG --task-regex R --from D --to D [--downstream] [--dry-run]\n"
           "                                    let the matching tasks run again\n"
           "  backfill DAG --from D --to D [--reprocess none|failed|all] [--dry-run]\n"
           "                                    queue the runs of every interval starting in the\n"
           "                                    range (the running schedulers run them)\n\n", PROGNAME);
    printf("Options:\n"
           "      --dags=FILE            the DAG file ($ECOM_SCHEDULER_DAGS, scheduler/dags.conf)\n"
           "  -d, --dbname=CONNINFO      PostgreSQL connection string (default: PG* variables)\n"
           "      --json                 machine-readable output\n"
           "  -p, --parallelism=N        run: tries at once (default 4, at most 64)\n"
           "      --poll=MS              run: a pass over each DAG with runs queued or running at\n"
           "                             least this often (5000; other DAGs: when a run falls due,\n"
           "                             on a NOTIFY from this CLI, or once a minute)\n"
           "      --heartbeat=MS         run: the scheduler's heartbeat (5000)\n"
           "      --zombie-threshold=MS  run: a scheduler silent this long is dead, its tasks\n"
           "                             zombies (30000; on this host a dead process at once)\n"
           "      --grace=MS             run: on SIGINT/SIGTERM running tries get this long to\n"
           "                             finish, then their groups get SIGTERM, SIGKILL 5 s later,\n"
           "                             and they are handed back (10000; the exit comes within\n"
           "                             grace + 8 s)\n"
           "      --connect-wait=MS      run: how long to wait for PostgreSQL at start (-1: ever)\n"
           "      --from=D, --to=D       a range of logical dates: D is a month, week, day, hour or\n"
           "                             instant (UTC); --to's whole period is in it\n"
           "  -V, --version              print version and exit\n"
           "  -h, --help                 show this help and exit\n\n"
           "Tasks run with /bin/sh -c in a process group of their own, with this program's\n"
           "directory first on PATH (so ecom-batch and ecom-quality are the ones built beside\n"
           "it), ECOM_DATA_INTERVAL_START/END and ECOM_DAG_RUN_CONF set; execution_timeout ends\n"
           "the whole group (SIGTERM, SIGKILL 5 s later). Each try's exit status, duration and\n"
           "last 64 KiB of output are kept in task_tries.\n\n"
           "Environment: PG* (and .env) for PostgreSQL; PGGSSENCMODE is set to disable\n"
           "unless set (libpq's Kerberos probe costs 0.5 MB); ECOM_SCHEDULER_DAGS;\n"
           "ECOM_LAKE_DIR and the other settings of the jobs reach them unchanged.\n");
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

/* Every command renders (its placeholders are known), or the daemon
 * refuses to start, naming the task's line. */
static void check_commands(const dag_file_t *f)
{
    char out[8192], err[256];

    for (int i = 0; i < f->n; i++)
        for (int k = 0; k < f->dags[i].n_tasks; k++) {
            const dag_task_t *t = &f->dags[i].tasks[k];
            plan_context_t ctx = {f->dags[i].id, t->id, 0, 0};
            if (plan_render(t->command, &ctx, out, sizeof(out), err, sizeof(err)) != 0) {
                fprintf(stderr, "%s: %s:%d: task \"%s\": %s\n", PROGNAME, dags_path, t->line, t->id, err);
                exit(CONFIG_EXIT_USAGE);
            }
        }
}

enum {
    OPT_DAGS = 256, OPT_JSON, OPT_POLL, OPT_HEARTBEAT, OPT_ZOMBIE, OPT_GRACE, OPT_CONNECT_WAIT, OPT_CONF,
    OPT_LOGICAL, OPT_STATE, OPT_LIMIT, OPT_REGEX, OPT_FROM, OPT_TO, OPT_REPROCESS, OPT_DRY_RUN, OPT_DOWNSTREAM,
};

/* Which options a command takes, by the command's words. */
static void only(int given, const char *opt, const char *command, int allowed)
{
    if (given && !allowed)
        config_usage_error("%s does not apply to %s", opt, command);
}

static const dag_t *find_dag(const dag_file_t *f, const char *id)
{
    const dag_t *d = dag_find(f, id);

    if (d == NULL)
        config_usage_error("no DAG \"%s\" in %s", id, dags_path);
    return d;
}

static int64_t date_flag(const char *text, const char *opt, int end)
{
    int64_t lo, hi;
    char err[256];

    if (period_parse(text, &lo, &hi, err, sizeof(err)) != 0)
        config_usage_error("invalid value \"%s\" for %s: %s", text, opt, err);
    return end ? hi : lo;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dags", required_argument, NULL, OPT_DAGS},
        {"dbname", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"parallelism", required_argument, NULL, 'p'},
        {"poll", required_argument, NULL, OPT_POLL},
        {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
        {"zombie-threshold", required_argument, NULL, OPT_ZOMBIE},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"connect-wait", required_argument, NULL, OPT_CONNECT_WAIT},
        {"conf", required_argument, NULL, OPT_CONF},
        {"logical-date", required_argument, NULL, OPT_LOGICAL},
        {"state", required_argument, NULL, OPT_STATE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"task-regex", required_argument, NULL, OPT_REGEX},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"reprocess", required_argument, NULL, OPT_REPROCESS},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"downstream", no_argument, NULL, OPT_DOWNSTREAM},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    daemon_opts_t dopt = {NULL, 4, 5000, 5000, 30000, 10000, -1};
    cli_opts_t copt = {.limit = 25, .logical = INT64_MIN};
    const char *regex = NULL, *from = NULL, *to = NULL, *reprocess = NULL, *logical = NULL;
    int c, n, daemon_flags = 0;
    char cmd[64];
    dag_file_t f;
    int rc;

    config_start(PROGNAME);
    /* libpq's default gssencmode=prefer loads Kerberos and looks for a
     * ticket on every connection: 0.5 MB of a daemon meant to stay under
     * 10 MB (bench/scheduler.sh). Off unless PGGSSENCMODE (or gssencmode in
     * -d) asks for it. */
    setenv("PGGSSENCMODE", "disable", 0);
    dags_path = config_env_str("ECOM_SCHEDULER_DAGS", "scheduler/dags.conf");
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:p:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_DAGS: dags_path = optarg; break;
        case 'd': dopt.conninfo = copt.conninfo = optarg; break;
        case OPT_JSON: json_out = copt.json = 1; break;
        case 'p': dopt.parallelism = (int)config_flag_int64(optarg, 1, EXEC_MAX_SLOTS, "-p/--parallelism"); daemon_flags = 1; break;
        case OPT_POLL: dopt.poll_ms = config_flag_int64(optarg, 10, 3600000, "--poll"); daemon_flags = 1; break;
        case OPT_HEARTBEAT: dopt.heartbeat_ms = config_flag_int64(optarg, 10, 3600000, "--heartbeat"); daemon_flags = 1; break;
        case OPT_ZOMBIE: dopt.zombie_ms = config_flag_int64(optarg, 100, 86400000, "--zombie-threshold"); daemon_flags = 1; break;
        case OPT_GRACE: dopt.grace_ms = config_flag_int64(optarg, 0, 86400000, "--grace"); daemon_flags = 1; break;
        case OPT_CONNECT_WAIT: dopt.connect_wait_ms = (int)config_flag_int64(optarg, -1, 86400000, "--connect-wait"); daemon_flags = 1; break;
        case OPT_CONF: copt.conf = optarg; break;
        case OPT_LOGICAL: logical = optarg; break;
        case OPT_STATE: copt.state = optarg; break;
        case OPT_LIMIT: copt.limit = (int)config_flag_int64(optarg, 1, 1000000, "--limit"); break;
        case OPT_REGEX: regex = optarg; break;
        case OPT_FROM: from = optarg; break;
        case OPT_TO: to = optarg; break;
        case OPT_REPROCESS: reprocess = optarg; break;
        case OPT_DRY_RUN: copt.dry_run = 1; break;
        case OPT_DOWNSTREAM: copt.downstream = 1; break;
        case 'V': printf("%s %s\n", PROGNAME, ECOM_VERSION); return 0;
        case 'h': usage(); return 0;
        default: config_getopt_error(c, argv);
        }
    }
    n = argc - optind;
    argv += optind;
    if (n == 0)
        config_usage_error("no command (run, dags list, dags trigger, dags list-runs, tasks test, tasks clear, "
                           "backfill)");
    snprintf(cmd, sizeof(cmd), "%s%s%s", argv[0], n > 1 && strcmp(argv[0], "run") != 0 &&
             strcmp(argv[0], "backfill") != 0 ? " " : "", n > 1 && strcmp(argv[0], "run") != 0 &&
             strcmp(argv[0], "backfill") != 0 ? argv[1] : "");
    only(daemon_flags, "-p/--parallelism, --poll, --heartbeat, --zombie-threshold, --grace and --connect-wait", cmd,
         strcmp(cmd, "run") == 0);
    only(copt.conf != NULL || logical != NULL, "--conf and --logical-date", cmd, strcmp(cmd, "dags trigger") == 0);
    only(copt.state != NULL || copt.limit != 25, "--state and --limit", cmd, strcmp(cmd, "dags list-runs") == 0);
    only(regex != NULL || copt.downstream, "--task-regex and --downstream", cmd, strcmp(cmd, "tasks clear") == 0);
    only(from != NULL || to != NULL, "--from and --to", cmd,
         strcmp(cmd, "tasks clear") == 0 || strcmp(cmd, "backfill") == 0);
    only(copt.dry_run, "--dry-run", cmd, strcmp(cmd, "tasks clear") == 0 || strcmp(cmd, "backfill") == 0);
    only(reprocess != NULL, "--reprocess", cmd, strcmp(cmd, "backfill") == 0);
    term_install();
    if (strcmp(cmd, "dags list") == 0 && n == 2)
        return cmd_dags_list();
    if (strcmp(cmd, "tasks test") == 0 && n == 5)
        return cmd_tasks_test(argv[2], argv[3], argv[4]);
    if (strcmp(cmd, "run") == 0 && n == 1) {
        load(&f);
        check_commands(&f);
        prepend_own_dir();
        rc = daemon_run(&f, &dopt);
        dag_file_free(&f);
        return rc;
    }
    if ((strcmp(cmd, "dags trigger") == 0 || strcmp(cmd, "dags list-runs") == 0 || strcmp(cmd, "tasks clear") == 0) &&
        n == 3) {
        const dag_t *d;
        load(&f);
        d = find_dag(&f, argv[2]);
        if (strcmp(cmd, "dags trigger") == 0) {
            json_t *j = copt.conf != NULL ? json_loads(copt.conf, 0, NULL) : NULL;
            if (copt.conf != NULL && !json_is_object(j))
                config_usage_error("--conf must be a JSON object, not \"%s\"", copt.conf);
            json_decref(j);
            if (logical != NULL)
                copt.logical = date_flag(logical, "--logical-date", 0);
            rc = cli_trigger(d, &copt);
        } else if (strcmp(cmd, "dags list-runs") == 0) {
            if (copt.state != NULL && plan_run_state_parse(copt.state) < 0)
                config_usage_error("invalid value \"%s\" for --state (queued, running, success, failed)", copt.state);
            rc = cli_list_runs(d, &copt);
        } else {
            int mask[DAG_MAX_TASKS] = {0}, any = 0;
            regex_t re;
            if (regex == NULL || from == NULL || to == NULL)
                config_usage_error("tasks clear needs --task-regex, --from and --to");
            if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0)
                config_usage_error("invalid value \"%s\" for --task-regex: not a POSIX extended regex", regex);
            for (int i = 0; i < d->n_tasks; i++)
                any |= mask[i] = regexec(&re, d->tasks[i].id, 0, NULL, 0) == 0;
            regfree(&re);
            if (!any)
                config_usage_error("--task-regex \"%s\" matches no task of DAG \"%s\"", regex, d->id);
            copt.from = date_flag(from, "--from", 0);
            copt.to = date_flag(to, "--to", 1);
            rc = cli_clear(d, mask, &copt);
        }
        dag_file_free(&f);
        return rc;
    }
    if (strcmp(cmd, "backfill") == 0 && n == 2) {
        const dag_t *d;
        if (from == NULL || to == NULL)
            config_usage_error("backfill needs --from and --to");
        if (reprocess != NULL && (copt.reprocess = strcmp(reprocess, "none") == 0 ? 0
                                  : strcmp(reprocess, "failed") == 0 ? 1
                                  : strcmp(reprocess, "all") == 0 ? 2 : -1) < 0)
            config_usage_error("invalid value \"%s\" for --reprocess (none, failed, all)", reprocess);
        copt.from = date_flag(from, "--from", 0);
        copt.to = date_flag(to, "--to", 1);
        if (copt.to <= copt.from)
            config_usage_error("--to is before --from");
        load(&f);
        d = find_dag(&f, argv[1]);
        if (d->schedule.kind != CRON_EXPR)
            config_usage_error("DAG \"%s\" has no schedule to backfill (%s)", d->id, d->schedule_text);
        rc = cli_backfill(d, &copt);
        dag_file_free(&f);
        return rc;
    }
    config_usage_error("unknown command \"%s\" or wrong arguments (see --help)", cmd);
}
