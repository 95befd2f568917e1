/*
 * main.c - ecom-quality: options, the period, the run of the checks
 * (checks.c), the report on stdout (a table, or JSON with --json) and
 * --export-clean (export.c). Logs on stderr.
 */
#include "checks.h"
#include "config.h"
#include "db.h"
#include "elog.h"
#include "export.h"
#include "period.h"
#include "term.h"
#include "ts.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "ecom-quality"

typedef struct {
    const char *conninfo;
    const char *for_spec, *from_spec, *to_spec;
    const char *lake_root;
    double connect_wait_s;
    int64_t workers;
    int json, export_clean;
    checks_conf_t checks;
} quality_conf_t;

static quality_conf_t conf = {
    .connect_wait_s = 30,
    .workers = 2,
    .checks = {.price_deviation = 0.5},
};

static void usage(void)
{
    printf("%s checks the stored events of a period, records the results in\n"
           "data_quality_results and prints them.\n\n", PROGNAME);
    printf("Usage:\n  %s [OPTION]...\n\nChecks (default thresholds WARN,FAIL):\n", PROGNAME);
    for (int i = 0; check_names[i] != NULL; i++)
        for (int k = 0; k < checks_count; k++)
            if (strcmp(checks[k].name, check_names[i]) == 0) {
                printf("  %-18s %-8s %g,%g\n", check_names[i], checks[k].unit, checks[k].lim.warn,
                       checks[k].lim.fail);
                break;
            }
    printf("\nPeriod (default: the last completed hour; UTC):\n"
           "      --for=SPEC             YYYY-MM, YYYY-Www, YYYY-MM-DD, YYYY-MM-DDTHH\n"
           "      --from=SPEC --to=SPEC  from the start of FROM to the end of TO\n\n");
    printf("Checks and output:\n"
           "      --threshold=CHECK=WARN[,FAIL]  a check's thresholds (repeatable)\n"
           "      --price-deviation=SHARE  a price this far from the catalog's is an anomaly\n"
           "                             (default: 0.5)\n"
           "      --fix                  remove the near-duplicates from user_events (in the\n"
           "                             checks' transaction; the report says how many)\n"
           "      --json                 the report as JSON on stdout\n"
           "      --export-clean         write each hour's validated, de-duplicated events under\n"
           "                             LAKE/processed/TOPIC/dt=YYYY-MM-DD/hr=HH.jsonl.gz\n"
           "      --lake=DIR             the data lake's root (default: $ECOM_LAKE_DIR or ./data)\n\n");
    printf("PostgreSQL and operation:\n"
           "  -d, --dbname=CONNINFO      connection string or URI (default: libpq's PG* variables)\n"
           "      --connect-wait=SECONDS  retry connecting this long (default: 30)\n"
           "  -j, --jobs=N               run the checks on N connections at once, in one\n"
           "                             snapshot (default: 2)\n"
           "  -V, --version              print version and exit\n"
           "  -h, --help                 show this help and exit\n\n"
           "Exit status: 0 no check failed, 1 a check failed (or the run did), 2 bad usage.\n"
           "SIGINT/SIGTERM cancel the running statement; nothing is recorded then.\n"
           "Environment: PG* (libpq's), ECOM_LAKE_DIR, LOG_LEVEL, ECOM_ENV_FILE.\n");
}

enum {
    OPT_FOR = 1000, OPT_FROM, OPT_TO, OPT_THRESHOLD, OPT_PRICE_DEVIATION, OPT_FIX, OPT_JSON,
    OPT_EXPORT_CLEAN, OPT_LAKE, OPT_CONNECT_WAIT,
};

static void set_threshold(const char *arg)
{
    const char *eq = strchr(arg, '=');
    char name[64], err[160];
    verdict_limits_t lim;
    int idx;

    if (eq == NULL || (size_t)(eq - arg) >= sizeof(name))
        config_usage_error("invalid value \"%s\" for option --threshold (expected CHECK=WARN[,FAIL])", arg);
    memcpy(name, arg, (size_t)(eq - arg));
    name[eq - arg] = '\0';
    if ((idx = checks_name_index(name)) < 0)
        config_usage_error("unknown check \"%s\" in --threshold", name);
    if (verdict_parse_limits(eq + 1, &lim, err, sizeof(err)) != 0)
        config_usage_error("invalid value for option --threshold %s: %s", name, err);
    conf.checks.lim[idx] = lim;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"for", required_argument, NULL, OPT_FOR},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"price-deviation", required_argument, NULL, OPT_PRICE_DEVIATION},
        {"fix", no_argument, NULL, OPT_FIX},
        {"json", no_argument, NULL, OPT_JSON},
        {"export-clean", no_argument, NULL, OPT_EXPORT_CLEAN},
        {"lake", required_argument, NULL, OPT_LAKE},
        {"dbname", required_argument, NULL, 'd'},
        {"connect-wait", required_argument, NULL, OPT_CONNECT_WAIT},
        {"jobs", required_argument, NULL, 'j'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    /* The defaults, per check name (every table of a name shares them). */
    for (int i = checks_count - 1; i >= 0; i--)
        conf.checks.lim[checks_name_index(checks[i].name)] = checks[i].lim;
    conf.lake_root = config_env_str("ECOM_LAKE_DIR", "data");
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:j:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FOR: conf.for_spec = optarg; break;
        case OPT_FROM: conf.from_spec = optarg; break;
        case OPT_TO: conf.to_spec = optarg; break;
        case OPT_THRESHOLD: set_threshold(optarg); break;
        case OPT_PRICE_DEVIATION:
            conf.checks.price_deviation = config_flag_double(optarg, 0.001, 1000, "--price-deviation");
            break;
        case OPT_FIX: conf.checks.fix = 1; break;
        case OPT_JSON: conf.json = 1; break;
        case OPT_EXPORT_CLEAN: conf.export_clean = 1; break;
        case OPT_LAKE:
            if (*optarg == '\0')
                config_usage_error("invalid value \"\" for option --lake");
            conf.lake_root = optarg;
            break;
        case 'd': conf.conninfo = optarg; break;
        case OPT_CONNECT_WAIT:
            conf.connect_wait_s = config_flag_double(optarg, 0, 86400, "--connect-wait");
            break;
        case 'j': conf.workers = config_flag_int64(optarg, 1, 8, "-j/--jobs"); break;
        case 'V':
            printf("%s %s (libpq %d)\n", PROGNAME, ECOM_VERSION, PQlibVersion());
            exit(0);
        case 'h': usage(); exit(0);
        default: config_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        config_usage_error("unexpected argument \"%s\"", argv[optind]);
}

static void resolve_period(void)
{
    int64_t lo, hi, first, last;
    char err[256];
    int rc = period_span_of_flags(conf.for_spec, conf.from_spec, conf.to_spec, &lo, &hi, err, sizeof(err));

    if (rc < 0)
        config_usage_error("%s", err);
    if (rc == 1) {
        conf.checks.lo = period_last_completed(PERIOD_HOUR, ts_now_ms());
        conf.checks.hi = conf.checks.lo + PERIOD_HOUR_MS;
        return;
    }
    /* The span rounded out to whole hours, within the longest range. */
    if (period_range(PERIOD_HOUR, lo, hi, &first, &last, err, sizeof(err)) != 0)
        config_usage_error("%s", err);
    conf.checks.lo = first;
    conf.checks.hi = last + PERIOD_HOUR_MS;
}

static void print_table(const check_result_t *r, long long run_id, long long removed)
{
    char lo[TS_RFC3339_LEN], hi[TS_RFC3339_LEN];

    printf("data quality run %lld, %s to %s\n\n", run_id, ts_format_rfc3339(conf.checks.lo, lo),
           ts_format_rfc3339(conf.checks.hi, hi));
    printf("%-18s %-18s %-6s %14s  %-8s %s\n", "check", "table", "status", "observed", "unit",
           "threshold (warn, fail)");
    for (int i = 0; i < checks_count; i++)
        printf("%-18s %-18s %-6s %14s  %-8s %g, %g\n", r[i].check->name, r[i].check->table,
               verdict_name(r[i].status), r[i].has_value ? r[i].observed_text : "-", r[i].check->unit,
               r[i].lim.warn, r[i].lim.fail);
    if (conf.checks.fix)
        printf("\n--fix removed %lld near-duplicate user events\n", removed);
}

static int print_json(const check_result_t *r, long long run_id, long long removed)
{
    char lo[TS_RFC3339_LEN], hi[TS_RFC3339_LEN];
    json_t *arr = json_array(), *root;
    int rc;

    for (int i = 0; i < checks_count; i++) {
        json_t *details = json_loads(r[i].details, 0, NULL);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:s, s:f, s:f, s:o}",
            "check", r[i].check->name, "table", r[i].check->table, "status", verdict_name(r[i].status),
            "observed", r[i].has_value ? json_real(r[i].observed) : json_null(), "unit", r[i].check->unit,
            "warn", r[i].lim.warn, "fail", r[i].lim.fail, "details", details ? details : json_null()));
    }
    root = json_pack("{s:I, s:s, s:s, s:o, s:I}", "run_id", (json_int_t)run_id,
                     "period_start", ts_format_rfc3339(conf.checks.lo, lo),
                     "period_end", ts_format_rfc3339(conf.checks.hi, hi), "checks", arr,
                     "removed", (json_int_t)removed);
    rc = root != NULL && json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? 0 : -1;
    putchar('\n');
    json_decref(root);
    return rc;
}

int main(int argc, char **argv)
{
    check_result_t results[64];
    db_canceller_t *cancellers[8] = {NULL};
    PGconn *conns[8] = {NULL};
    long long run_id = 0, removed = 0, rows = 0;
    int status = 1, failed = 0, files, n;

    config_start(PROGNAME);
    parse_args(argc, argv);
    resolve_period();
    term_install();
    n = (int)conf.workers;

    for (int i = 0; i < n; i++)
        if ((conns[i] = db_connect_job(conf.conninfo, PROGNAME, (int)(conf.connect_wait_s * 1000))) == NULL ||
            (cancellers[i] = db_canceller_start(conns[i])) == NULL)
            goto done;
    if (checks_run(conns, n, &conf.checks, results, &run_id, &removed) != 0)
        goto done;
    for (int i = 0; i < checks_count; i++)
        failed += results[i].status == VERDICT_FAIL;
    if (conf.json ? print_json(results, run_id, removed) : (print_table(results, run_id, removed), 0))
        failed++;
    fflush(stdout);
    checks_free_results(results);
    LOG_INFO("run %lld: %d checks, %d failed", run_id, checks_count, failed);
    status = failed > 0;
    if (conf.export_clean && !term_requested()) {
        files = export_clean(conns[0], conf.checks.lo, conf.checks.hi, conf.lake_root, 1, &rows);
        if (files < 0)
            status = 1;
        else
            LOG_INFO("--export-clean: %d files, %lld rows under %s/processed", files, rows, conf.lake_root);
    }
done:
    for (int i = 0; i < n; i++) {
        db_canceller_stop(cancellers[i]);
        PQfinish(conns[i]);
    }
    return status;
}
