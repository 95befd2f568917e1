/*
 * main.c - ecom-batch: options and the periods a run covers; pool.c runs
 * them, archive.c drops what --drop-before names. Logs on stderr; nothing
 * on stdout but --help and --version.
 */
#include "config.h"
#include "db.h"
#include "jobs.h"
#include "period.h"
#include "pool.h"
#include "run.h"
#include "term.h"
#include "ts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "ecom-batch"

typedef struct {
    const job_t *job;
    const char *conninfo;
    const char *for_spec, *from_spec, *to_spec, *drop_before;
    double progress_s;
    double connect_wait_s;
    int64_t workers;
    run_opts_t run;
} batch_conf_t;

static batch_conf_t conf = {
    .progress_s = 10,
    .connect_wait_s = 30,
    .workers = 2,
    .run = {.gzip_level = 1},
};

static void usage(void)
{
    printf("%s runs one of the pipeline's batch jobs over the stored events, for one period\n"
           "or a range, then exits. Safe to re-run: each period's rows are replaced as a whole.\n\n",
           PROGNAME);
    printf("Usage:\n  %s JOB [OPTION]...\n\nJobs (UTC periods):\n", PROGNAME);
    for (const job_t *j = jobs; j->name != NULL; j++)
        printf("  %-26s %s: %s\n", j->name, period_kind_name(j->kind), j->summary);
    printf("\nPeriods (default: the last completed one):\n"
           "      --for=SPEC             the job's periods within SPEC\n"
           "      --from=SPEC --to=SPEC  every period from the one holding FROM to the one\n"
           "                             holding TO (inclusive; at most %d days in all)\n"
           "  SPEC: YYYY-MM, YYYY-Www (ISO week), YYYY-MM-DD, YYYY-MM-DDTHH, or an instant\n"
           "  YYYY-MM-DDTHH:MM[:SS][Z]; hourly-sales --for 2026-12-01 is that day's 24 hours.\n\n",
           PERIOD_MAX_SPAN_DAYS);
    printf("Output:\n"
           "      --export               also write each period as CSV under\n"
           "                             LAKE/aggregated/JOB/PERIOD.csv (not archive-raw)\n"
           "      --lake=DIR             the data lake's root (default: $ECOM_LAKE_DIR or ./data)\n"
           "      --gzip-level=N         archive-raw's gzip level, 1 fastest .. 12 smallest\n"
           "                             (default: 1)\n"
           "      --drop-before=DATE     archive-raw: then drop the raw tables' daily partitions\n"
           "                             of the days before DATE (YYYY-MM-DD) whose every hour is\n"
           "                             archived with the rows they hold; stops at the first day\n"
           "                             that is not\n\n");
    printf("PostgreSQL and operation:\n"
           "  -d, --dbname=CONNINFO      connection string or URI (default: libpq's PG* variables)\n"
           "      --connect-wait=SECONDS  retry connecting this long (default: 30)\n"
           "  -j, --jobs=N               run N periods at once, each on its own connection\n"
           "                             (default: 2)\n"
           "  -P, --progress=SECONDS     progress line interval, 0 = off (default: 10)\n"
           "  -V, --version              print version and exit\n"
           "  -h, --help                 show this help and exit\n\n");
    printf("Exit status: 0 every period succeeded, 1 one failed or the run was stopped (the\n"
           "reason on stderr and in batch_runs), 2 bad usage. SIGINT/SIGTERM cancel the running\n"
           "statement (rolled back, recorded as failed) and exit within about a second while\n"
           "PostgreSQL answers. Statements time out after 15 min.\n\n"
           "Environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD (and the rest of\n"
           "libpq's), ECOM_LAKE_DIR, LOG_LEVEL, ECOM_ENV_FILE (default: ./.env). Flags override\n"
           "the environment.\n");
}

static void version(void)
{
    printf("%s %s (libpq %d)\n", PROGNAME, ECOM_VERSION, PQlibVersion());
}

enum {
    OPT_FOR = 1000,
    OPT_FROM,
    OPT_TO,
    OPT_EXPORT,
    OPT_LAKE,
    OPT_GZIP_LEVEL,
    OPT_DROP_BEFORE,
    OPT_CONNECT_WAIT,
};

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"for", required_argument, NULL, OPT_FOR},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"export", no_argument, NULL, OPT_EXPORT},
        {"lake", required_argument, NULL, OPT_LAKE},
        {"gzip-level", required_argument, NULL, OPT_GZIP_LEVEL},
        {"drop-before", required_argument, NULL, OPT_DROP_BEFORE},
        {"dbname", required_argument, NULL, 'd'},
        {"connect-wait", required_argument, NULL, OPT_CONNECT_WAIT},
        {"jobs", required_argument, NULL, 'j'},
        {"progress", required_argument, NULL, 'P'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    conf.run.lake_root = config_env_str("ECOM_LAKE_DIR", "data");
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:j:P:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FOR: conf.for_spec = optarg; break;
        case OPT_FROM: conf.from_spec = optarg; break;
        case OPT_TO: conf.to_spec = optarg; break;
        case OPT_EXPORT: conf.run.export_csv = 1; break;
        case OPT_LAKE:
            if (*optarg == '\0')
                config_usage_error("invalid value \"\" for option --lake");
            conf.run.lake_root = optarg;
            break;
        case OPT_GZIP_LEVEL: conf.run.gzip_level = (int)config_flag_int64(optarg, 1, 12, "--gzip-level"); break;
        case OPT_DROP_BEFORE: conf.drop_before = optarg; break;
        case 'd': conf.conninfo = optarg; break;
        case OPT_CONNECT_WAIT:
            conf.connect_wait_s = config_flag_double(optarg, 0, 86400, "--connect-wait");
            break;
        case 'j': conf.workers = config_flag_int64(optarg, 1, 16, "-j/--jobs"); break;
        case 'P': conf.progress_s = config_flag_double(optarg, 0, 86400, "-P/--progress"); break;
        case 'V': version(); exit(0);
        case 'h': usage(); exit(0);
        default: config_getopt_error(c, argv);
        }
    }
    if (optind >= argc)
        config_usage_error("no job named (one of: hourly-sales, daily-engagement, "
                           "weekly-inventory-turnover, monthly-cohorts, archive-raw)");
    if ((conf.job = job_find(argv[optind])) == NULL)
        config_usage_error("unknown job \"%s\"", argv[optind]);
    if (optind + 1 < argc)
        config_usage_error("unexpected argument \"%s\"", argv[optind + 1]);
    if (strcmp(conf.job->name, JOB_ARCHIVE_RAW) == 0 ? conf.run.export_csv : conf.drop_before != NULL)
        config_usage_error("%s does not apply to %s", conf.run.export_csv ? "--export" : "--drop-before",
                           conf.job->name);
}

/* The run's first and last period starts, from the flags or the clock. */
static void resolve_periods(int64_t *first, int64_t *last)
{
    const period_kind_t k = conf.job->kind;
    int64_t lo, hi;
    char err[256];
    int rc = period_span_of_flags(conf.for_spec, conf.from_spec, conf.to_spec, &lo, &hi, err, sizeof(err));

    if (rc < 0)
        config_usage_error("%s", err);
    if (rc == 1) {
        *first = *last = period_last_completed(k, ts_now_ms());
        return;
    }
    if (period_range(k, lo, hi, first, last, err, sizeof(err)) != 0)
        config_usage_error("%s", err);
}

static int64_t parse_drop_before(void)
{
    int64_t lo, hi;
    char err[256];

    if (conf.drop_before == NULL)
        return 0;
    if (strlen(conf.drop_before) != 10 || period_parse(conf.drop_before, &lo, &hi, err, sizeof(err)) != 0)
        config_usage_error("invalid value for option --drop-before: expected a date YYYY-MM-DD, got \"%s\"",
                           conf.drop_before);
    return lo;
}

int main(int argc, char **argv)
{
    int64_t first, last, drop_before;
    PGconn *conn = NULL;
    pool_conf_t pool;
    int status;

    config_start(PROGNAME);
    parse_args(argc, argv);
    resolve_periods(&first, &last);
    drop_before = parse_drop_before();
    term_install();

    pool = (pool_conf_t){conf.job, first, last, (int)conf.workers, conf.conninfo,
                         (int)(conf.connect_wait_s * 1000), conf.progress_s, &conf.run};
    status = pool_run(&pool);
    if (conf.drop_before != NULL && !term_requested()) {
        conn = db_connect_job(conf.conninfo, PROGNAME, (int)(conf.connect_wait_s * 1000));
        if (conn == NULL || archive_drop_before(conn, drop_before) < 0)
            status = 1;
        PQfinish(conn);
    }
    return status;
}
