/*
 * main.c - ecom-metrics: options, configuration, the HTTP endpoint (its own
 * /metrics, /health and the API of api.c) and the collector's rounds
 * (coll.c). Logs on stderr; nothing on stdout but --help and --version.
 */
#include "api.h"
#include "coll.h"
#include "config.h"
#include "elog.h"
#include "httpd.h"
#include "kafka.h"
#include "metrics.h"
#include "term.h"

#include <curl/curl.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "ecom-metrics"
#define DEFAULT_TARGET "stream=http://127.0.0.1:9101/metrics"

static struct {
    const char *brokers;
    kafka_xopts_t xopts;
    int no_kafka;
    double interval_s, timeout_s;
    int64_t port;
    const char *bind;
    coll_conf_t coll;
    dash_conf_t dash;
} conf = {
    .interval_s = 5,
    .timeout_s = 3,
    .port = 9102,
    .bind = "127.0.0.1",
    .coll = {.retention_s = 86400, .max_bytes = 4 << 20},
};

static void usage(void)
{
    printf("%s scrapes the pipeline's sources on an interval, stores their time series in\n"
           "PostgreSQL and serves them over HTTP.\n\n",
           PROGNAME);
    printf("Usage:\n  %s [OPTION]...\n\n", PROGNAME);
    printf("Sources (each scrape bounded by --timeout; a source that fails is recorded down):\n"
           "  -b, --brokers=LIST         Kafka, read through librdkafka's admin API (default:\n"
           "                             $KAFKA_BOOTSTRAP_SERVERS or %s)\n"
           "      --no-kafka             do not scrape Kafka\n"
           "  -X KEY=VALUE               librdkafka property (repeatable); -X list shows them\n"
           "  -d, --dbname=CONNINFO      PostgreSQL, scraped and the store (default: libpq's PG*)\n"
           "  -t, --target=NAME=URL      a daemon's Prometheus /metrics, stored as source NAME\n"
           "                             (repeatable; default: $ECOM_METRICS_TARGETS, a comma-\n"
           "                             separated list, or %s)\n"
           "      --kafka-ui=URL         a Kafka UI's REST API (default: $KAFKA_UI_URL; none)\n"
           "      --spark-master-ui=URL  a Spark master's UI, read at /json/ (default:\n"
           "                             $SPARK_MASTER_UI_URL; none)\n\n",
           KAFKA_DEFAULT_BOOTSTRAP, DEFAULT_TARGET);
    printf("Collection:\n"
           "  -i, --interval=SECONDS     between rounds (default: $ECOM_METRICS_INTERVAL or 5)\n"
           "      --timeout=SECONDS      one source's scrape at most (default: 3)\n"
           "      --retention=SECONDS    points kept (default: $ECOM_METRICS_RETENTION or 86400)\n"
           "      --max-bytes=N          one HTTP body at most (default: 4194304)\n"
           "      --keep-buckets         store histogram buckets from /metrics too\n"
           "      --rounds=N             exit 0 after N rounds (default: until a signal)\n\n");
    printf("HTTP (the dashboard at /, its own /metrics, /health, /api/latest, /api/series, /api/shop):\n"
           "  -p, --port=PORT            0 = off (default: $ECOM_METRICS_PORT or 9102)\n"
           "      --bind=ADDR            address to listen on (default: 127.0.0.1)\n"
           "      --web-dir=DIR          the dashboard's files (default: $ECOM_WEB_DIR or the checkout's\n"
           "                             monitoring/web)\n"
           "      --vendor-dir=DIR       uPlot, from scripts/web-vendor.sh (default: $ECOM_WEB_VENDOR or\n"
           "                             ~/.cache/ecom-pipeline/web)\n"
           "      --kafka-ui-link=URL, --spark-ui-link=URL  where the dashboard links to them (default:\n"
           "                             $KAFKA_UI_LINK, $SPARK_UI_LINK, else the URLs scraped)\n"
           "  -V, --version              print version and exit\n"
           "  -h, --help                 show this help and exit\n\n");
    printf("Bounds: SIGINT/SIGTERM end the round in progress (each source within --timeout) and\n"
           "exit 0. Environment: KAFKA_BOOTSTRAP_SERVERS, ECOM_METRICS_TARGETS, ECOM_METRICS_PORT,\n"
           "ECOM_METRICS_INTERVAL, ECOM_METRICS_RETENTION, KAFKA_UI_URL, SPARK_MASTER_UI_URL,\n"
           "LOG_LEVEL, PG* (libpq's), ECOM_ENV_FILE (default: ./.env). Flags override them.\n");
}

static void version(void)
{
    printf("%s %s (librdkafka %s, libpq %d, %s)\n", PROGNAME, ECOM_VERSION, rd_kafka_version_str(),
           PQlibVersion(), curl_version());
}

enum { OPT_NO_KAFKA = 1000, OPT_KAFKA_UI, OPT_SPARK, OPT_TIMEOUT, OPT_RETENTION, OPT_MAX_BYTES, OPT_BUCKETS,
       OPT_ROUNDS, OPT_BIND, OPT_WEB_DIR, OPT_VENDOR_DIR, OPT_KAFKA_UI_LINK, OPT_SPARK_UI_LINK };

/* The vendor directory scripts/web-vendor.sh fills. */
static const char *default_vendor_dir(void)
{
    static char dir[1024];
    const char *env = getenv("ECOM_WEB_VENDOR"), *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

    if (env != NULL && env[0] != '\0')
        return env;
    if (cache != NULL && cache[0] != '\0')
        snprintf(dir, sizeof(dir), "%s/ecom-pipeline/web", cache);
    else
        snprintf(dir, sizeof(dir), "%s/.cache/ecom-pipeline/web", home != NULL ? home : "");
    return dir;
}

static void add_target(const char *arg, const char *where)
{
    if (conf.coll.ntargets == COLL_MAX_TARGETS)
        config_usage_error("too many targets in %s (at most %d)", where, COLL_MAX_TARGETS);
    if (coll_parse_target(arg, &conf.coll.targets[conf.coll.ntargets]) != 0)
        config_usage_error("invalid target \"%s\" in %s (expected NAME=http://HOST:PORT/PATH)", arg, where);
    for (int i = 0; i < conf.coll.ntargets; i++)
        if (strcmp(conf.coll.targets[i].name, conf.coll.targets[conf.coll.ntargets].name) == 0)
            config_usage_error("target name \"%s\" given twice in %s", conf.coll.targets[i].name, where);
    conf.coll.ntargets++;
}

/* A comma-separated list of NAME=URL (the environment's form). */
static void add_targets(const char *list, const char *where)
{
    char *copy = strdup(list), *save = NULL;

    if (copy == NULL)
        config_usage_error("out of memory");
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        if (*config_trim(t) != '\0')
            add_target(config_trim(t), where);
    free(copy);
}

static void env_number(const char *name, double min, double max, double *out)
{
    const char *v = config_env_str(name, NULL);

    if (v != NULL && config_parse_double(v, min, max, out) != 0)
        config_usage_error("invalid value \"%s\" for environment variable %s", v, name);
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},     {"no-kafka", no_argument, NULL, OPT_NO_KAFKA},
        {"dbname", required_argument, NULL, 'd'},      {"target", required_argument, NULL, 't'},
        {"kafka-ui", required_argument, NULL, OPT_KAFKA_UI},
        {"spark-master-ui", required_argument, NULL, OPT_SPARK},
        {"interval", required_argument, NULL, 'i'},    {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retention", required_argument, NULL, OPT_RETENTION},
        {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
        {"keep-buckets", no_argument, NULL, OPT_BUCKETS}, {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"port", required_argument, NULL, 'p'},        {"bind", required_argument, NULL, OPT_BIND},
        {"web-dir", required_argument, NULL, OPT_WEB_DIR}, {"vendor-dir", required_argument, NULL, OPT_VENDOR_DIR},
        {"kafka-ui-link", required_argument, NULL, OPT_KAFKA_UI_LINK},
        {"spark-ui-link", required_argument, NULL, OPT_SPARK_UI_LINK},
        {"version", no_argument, NULL, 'V'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *targets_env = config_env_str("ECOM_METRICS_TARGETS", NULL);
    double port = (double)conf.port, retention = (double)conf.coll.retention_s;
    int c, targets_flagged = 0;

    env_number("ECOM_METRICS_PORT", 0, 65535, &port);
    env_number("ECOM_METRICS_INTERVAL", 0.1, 86400, &conf.interval_s);
    env_number("ECOM_METRICS_RETENTION", 60, 1e9, &retention);
    conf.port = (int64_t)port;
    conf.coll.retention_s = (int64_t)retention;
    conf.coll.kafka_ui_url = config_env_str("KAFKA_UI_URL", NULL);
    conf.coll.spark_url = config_env_str("SPARK_MASTER_UI_URL", NULL);
    conf.dash.web_dir = dash_default_web_dir();
    conf.dash.vendor_dir = default_vendor_dir();
    conf.dash.kafka_ui_link = config_env_str("KAFKA_UI_LINK", NULL);
    conf.dash.spark_ui_link = config_env_str("SPARK_UI_LINK", NULL);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":b:d:t:X:i:p:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': conf.brokers = optarg; break;
        case OPT_NO_KAFKA: conf.no_kafka = 1; break;
        case 'X': kafka_xopts_flag(&conf.xopts, optarg, "-X"); break;
        case 'd': conf.coll.conninfo = optarg; break;
        case 't':
            if (!targets_flagged)
                conf.coll.ntargets = 0; /* flags replace the environment's list */
            targets_flagged = 1;
            add_target(optarg, "-t/--target");
            break;
        case OPT_KAFKA_UI: conf.coll.kafka_ui_url = optarg; break;
        case OPT_SPARK: conf.coll.spark_url = optarg; break;
        case 'i': conf.interval_s = config_flag_double(optarg, 0.1, 86400, "-i/--interval"); break;
        case OPT_TIMEOUT: conf.timeout_s = config_flag_double(optarg, 0.1, 600, "--timeout"); break;
        case OPT_RETENTION: conf.coll.retention_s = config_flag_int64(optarg, 60, 1000000000, "--retention"); break;
        case OPT_MAX_BYTES: conf.coll.max_bytes = config_flag_int64(optarg, 1024, 1LL << 30, "--max-bytes"); break;
        case OPT_BUCKETS: conf.coll.keep_buckets = 1; break;
        case OPT_ROUNDS: conf.coll.max_rounds = config_flag_int64(optarg, 1, 1000000000, "--rounds"); break;
        case 'p': conf.port = config_flag_int64(optarg, 0, 65535, "-p/--port"); break;
        case OPT_BIND: conf.bind = optarg; break;
        case OPT_WEB_DIR: conf.dash.web_dir = optarg; break;
        case OPT_VENDOR_DIR: conf.dash.vendor_dir = optarg; break;
        case OPT_KAFKA_UI_LINK: conf.dash.kafka_ui_link = optarg; break;
        case OPT_SPARK_UI_LINK: conf.dash.spark_ui_link = optarg; break;
        case 'V': version(); exit(0);
        case 'h': usage(); exit(0);
        default: config_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        config_usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!targets_flagged)
        add_targets(targets_env != NULL ? targets_env : DEFAULT_TARGET,
                    targets_env != NULL ? "ECOM_METRICS_TARGETS" : "the default");
    if (conf.coll.kafka_ui_url != NULL && conf.coll.kafka_ui_url[0] == '\0')
        conf.coll.kafka_ui_url = NULL;
    if (conf.coll.spark_url != NULL && conf.coll.spark_url[0] == '\0')
        conf.coll.spark_url = NULL;
    if (conf.dash.kafka_ui_link == NULL || conf.dash.kafka_ui_link[0] == '\0')
        conf.dash.kafka_ui_link = conf.coll.kafka_ui_url;
    if (conf.dash.spark_ui_link == NULL || conf.dash.spark_ui_link[0] == '\0')
        conf.dash.spark_ui_link = conf.coll.spark_url;
    conf.coll.interval_ms = (int64_t)(conf.interval_s * 1000);
    conf.coll.timeout_ms = (int64_t)(conf.timeout_s * 1000);
}

/* A producer handle: the lightest one librdkafka's admin API takes. */
static rd_kafka_t *kafka_handle(void)
{
    static const char *const defaults[] = {"socket.timeout.ms", "10000", NULL};
    char err[512];
    rd_kafka_conf_t *kc = kafka_conf_build(conf.brokers, PROGNAME, defaults, &conf.xopts, err, sizeof(err));
    rd_kafka_t *rk;

    if (kc == NULL)
        config_usage_error("%s", err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    if (rk == NULL) {
        rd_kafka_conf_destroy(kc);
        LOG_ERROR("could not create the Kafka client: %s", err);
    }
    return rk;
}

int main(int argc, char **argv)
{
    char errbuf[512];
    metrics_t *metrics = NULL;
    rd_kafka_t *rk = NULL;
    coll_t *coll = NULL;
    api_t *api = NULL;
    httpd_t *httpd = NULL;
    int rc = 1;

    config_start(PROGNAME);
    setenv("PGGSSENCMODE", "disable", 0); /* no Kerberos probe (see the scheduler's note) */
    parse_args(argc, argv);
    term_install();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        LOG_ERROR("libcurl could not start");
        return 1;
    }
    if ((metrics = metrics_new("ecom_metrics")) == NULL)
        goto out;
    if (!conf.no_kafka && (rk = kafka_handle()) == NULL)
        goto out;
    if ((coll = coll_new(&conf.coll, rk, metrics)) == NULL ||
        (api = api_new(coll, conf.coll.conninfo, (int)conf.coll.timeout_ms, &conf.dash)) == NULL) {
        LOG_ERROR("out of memory");
        goto out;
    }
    if (conf.port > 0) {
        httpd = httpd_start_routes(conf.bind, (int)conf.port, metrics, coll_health, coll, api_route, api, errbuf,
                                   sizeof(errbuf));
        if (httpd == NULL) {
            LOG_ERROR("could not serve HTTP on %s:%d: %s", conf.bind, (int)conf.port, errbuf);
            LOG_INFO("hint: pick another port with -p/--port, or 0 to turn it off");
            goto out;
        }
        LOG_INFO("dashboard on http://%s:%d/ (also /metrics, /health, /api/latest, /api/series, /api/shop)",
                 conf.bind, httpd_port(httpd));
    }
    LOG_INFO("scraping every %.1f s: %s%d targets%s%s, PostgreSQL", conf.interval_s, rk != NULL ? "Kafka, " : "",
             conf.coll.ntargets, conf.coll.kafka_ui_url != NULL ? ", Kafka UI" : "",
             conf.coll.spark_url != NULL ? ", Spark master" : "");
    coll_run(coll);
    if (term_signal())
        LOG_INFO("stopped by signal %d", term_signal());
    rc = 0;
out:
    httpd_stop(httpd);
    api_free(api);
    coll_free(coll);
    if (rk != NULL)
        rd_kafka_destroy(rk);
    metrics_destroy(metrics);
    kafka_xopts_free(&conf.xopts);
    curl_global_cleanup();
    return rc;
}
