/*
 * main.c - ecom-stream: options, configuration, metrics endpoint and the
 * ingestion loop (ingest.c). Logs on stderr; nothing on stdout but --help,
 * --version and -X list.
 */
#include "config.h"
#include "elog.h"
#include "httpd.h"
#include "ingest.h"
#include "kafka.h"
#include "metrics.h"
#include "schema.h"
#include "term.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "ecom-stream"

static const char *const default_topics[] = {"user-events", "transactions", "inventory-updates"};

typedef struct {
    const char *brokers;
    kafka_xopts_t xopts;
    const char *group;
    const char *conninfo;
    int64_t flush_rows;
    int64_t flush_bytes;
    int64_t flush_ms;
    int64_t max_message_bytes;
    int synchronous_commit;
    int64_t metrics_port;
    const char *metrics_bind;
    double exit_when_idle_s;
    double progress_s;
    double stall_timeout_s;
    analytics_conf_t analytics;
} stream_conf_t;

static stream_conf_t conf = {
    .group = "ecom-stream",
    .flush_rows = 50000,
    .flush_bytes = 16 * 1024 * 1024,
    .flush_ms = 100,
    .max_message_bytes = SCHEMA_MAX_MESSAGE_BYTES,
    .metrics_port = 9101,
    .metrics_bind = "127.0.0.1",
    .progress_s = 10,
    .stall_timeout_s = 30,
};

static void usage(void)
{
    printf("%s stores e-commerce events from Kafka in PostgreSQL, exactly once.\n\n", PROGNAME);
    printf("Usage:\n  %s [OPTION]...\n\n", PROGNAME);
    printf("Kafka options:\n"
           "  -b, --brokers=LIST         bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or %s)\n"
           "  -g, --group=ID             consumer group (default: $STREAM_GROUP_ID or ecom-stream)\n"
           "  -X KEY=VALUE               librdkafka consumer property (repeatable); -X list shows them\n\n",
           KAFKA_DEFAULT_BOOTSTRAP);
    printf("PostgreSQL options:\n"
           "  -d, --dbname=CONNINFO      connection string or URI (default: libpq's PG* variables)\n\n");
    printf("Batching:\n"
           "      --flush-rows=N         flush after N messages (default: 50000)\n"
           "      --flush-bytes=N        flush when the batch holds N bytes of rows (default: 16777216)\n"
           "      --flush-ms=MS          flush when the oldest message waited MS ms (default: 100)\n"
           "      --max-message-bytes=N  larger messages are dead-lettered (default: %d)\n"
           "      --synchronous-commit=on|off  wait for PostgreSQL's WAL flush at each commit\n"
           "                             (default: off; a commit lost in a PostgreSQL crash loses\n"
           "                             its offsets with it, so its messages are read again)\n\n",
           SCHEMA_MAX_MESSAGE_BYTES);
    printf("Operation:\n"
           "  -p, --metrics-port=PORT    Prometheus /metrics and /health port, 0 = off (default: 9101)\n"
           "      --metrics-bind=ADDR    address to serve metrics on (default: 127.0.0.1)\n"
           "  -P, --progress=SECONDS     progress line interval, 0 = off (default: 10)\n"
           "      --exit-when-idle=SECONDS  exit 0 after flushing once no message came for this long\n"
           "                             (counted from the first partition assignment)\n"
           "      --stall-timeout=SECONDS  /health answers 503 when partitions with pending work\n"
           "                             make no progress for this long (default: 30)\n"
           "  -V, --version              print version and exit\n"
           "  -h, --help                 show this help and exit\n\n");
    analytics_usage();
    printf("Bounds: SIGINT/SIGTERM flush for at most 8 s, then exit 0 within about 12 s even when\n"
           "PostgreSQL is frozen; a revocation waits at most 5 s for PostgreSQL. Each connection\n"
           "attempt is bounded by connect_timeout (default 5 s), a dead network is noticed within\n"
           "about 15 s (TCP keepalives, tcp_user_timeout), statements by statement_timeout\n"
           "(default 30 s); PGCONNECT_TIMEOUT, PGOPTIONS or the connection string override them.\n\n");
    printf("Environment: KAFKA_BOOTSTRAP_SERVERS, STREAM_GROUP_ID, STREAM_METRICS_PORT, LOG_LEVEL,\n"
           "PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD (and the rest of libpq's), ECOM_ENV_FILE\n"
           "(default: ./.env). Flags override the environment.\n");
}

static void version(void)
{
    printf("%s %s (librdkafka %s, libpq %d)\n", PROGNAME, ECOM_VERSION, rd_kafka_version_str(),
           PQlibVersion());
}

enum {
    OPT_FLUSH_ROWS = 1000,
    OPT_FLUSH_BYTES,
    OPT_FLUSH_MS,
    OPT_MAX_MESSAGE_BYTES,
    OPT_METRICS_BIND,
    OPT_EXIT_WHEN_IDLE,
    OPT_SYNCHRONOUS_COMMIT,
    OPT_STALL_TIMEOUT,
};

static void parse_args(int argc, char **argv)
{
    static const struct option own[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"group", required_argument, NULL, 'g'},
        {"dbname", required_argument, NULL, 'd'},
        {"flush-rows", required_argument, NULL, OPT_FLUSH_ROWS},
        {"flush-bytes", required_argument, NULL, OPT_FLUSH_BYTES},
        {"flush-ms", required_argument, NULL, OPT_FLUSH_MS},
        {"max-message-bytes", required_argument, NULL, OPT_MAX_MESSAGE_BYTES},
        {"metrics-port", required_argument, NULL, 'p'},
        {"metrics-bind", required_argument, NULL, OPT_METRICS_BIND},
        {"progress", required_argument, NULL, 'P'},
        {"exit-when-idle", required_argument, NULL, OPT_EXIT_WHEN_IDLE},
        {"synchronous-commit", required_argument, NULL, OPT_SYNCHRONOUS_COMMIT},
        {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
    };
    enum { OWN = sizeof(own) / sizeof(own[0]), MAX_OPTS = OWN + 32 };
    struct option longopts[MAX_OPTS];
    const char *env;
    int c, n = 0;
    char err[256];

    memcpy(longopts, own, sizeof(own));
    while (analytics_options[n].name != NULL && OWN + n < MAX_OPTS - 1) {
        longopts[OWN + n] = analytics_options[n];
        n++;
    }
    longopts[OWN + n] = (struct option){NULL, 0, NULL, 0};
    conf.analytics = analytics_conf_default();

    conf.group = config_env_str("STREAM_GROUP_ID", conf.group);
    if ((env = config_env_str("STREAM_METRICS_PORT", NULL)) != NULL &&
        config_parse_int64(env, 0, 65535, &conf.metrics_port) != 0)
        config_usage_error("invalid value \"%s\" for environment variable STREAM_METRICS_PORT", env);

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":b:g:d:X:p:P:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': conf.brokers = optarg; break;
        case 'g':
            if (*optarg == '\0')
                config_usage_error("invalid value \"\" for option -g/--group");
            conf.group = optarg;
            break;
        case 'd': conf.conninfo = optarg; break;
        case 'X': kafka_xopts_flag(&conf.xopts, optarg, "-X"); break;
        case OPT_FLUSH_ROWS: conf.flush_rows = config_flag_int64(optarg, 1, 10000000, "--flush-rows"); break;
        case OPT_FLUSH_BYTES: conf.flush_bytes = config_flag_int64(optarg, 1024, 1LL << 32, "--flush-bytes"); break;
        case OPT_FLUSH_MS: conf.flush_ms = config_flag_int64(optarg, 1, 600000, "--flush-ms"); break;
        case OPT_MAX_MESSAGE_BYTES:
            conf.max_message_bytes = config_flag_int64(optarg, 64, 1LL << 30, "--max-message-bytes");
            break;
        case 'p': conf.metrics_port = config_flag_int64(optarg, 0, 65535, "-p/--metrics-port"); break;
        case OPT_METRICS_BIND: conf.metrics_bind = optarg; break;
        case 'P': conf.progress_s = config_flag_double(optarg, 0, 86400, "-P/--progress"); break;
        case OPT_EXIT_WHEN_IDLE:
            conf.exit_when_idle_s = config_flag_double(optarg, 0.1, 1e7, "--exit-when-idle");
            break;
        case OPT_STALL_TIMEOUT:
            conf.stall_timeout_s = config_flag_double(optarg, 0.5, 86400, "--stall-timeout");
            break;
        case OPT_SYNCHRONOUS_COMMIT:
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
                config_usage_error("invalid value \"%s\" for option --synchronous-commit (expected on or off)",
                                   optarg);
            conf.synchronous_commit = strcmp(optarg, "on") == 0;
            break;
        case 'V': version(); exit(0);
        case 'h': usage(); exit(0);
        default:
            if (!analytics_parse_option(&conf.analytics, c, optarg))
                config_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        config_usage_error("unexpected argument \"%s\"", argv[optind]);
    if (analytics_conf_check(&conf.analytics, err, sizeof(err)) != 0)
        config_usage_error("%s", err);
}

int main(int argc, char **argv)
{
    char errbuf[512];
    metrics_t *metrics = NULL;
    ingest_t *in = NULL;
    httpd_t *httpd = NULL;
    ingest_conf_t iconf;
    int rc = 1;

    config_start(PROGNAME);
    parse_args(argc, argv);
    term_install();

    metrics = metrics_new("ecom_stream");
    if (metrics == NULL) {
        LOG_ERROR("out of memory");
        goto out;
    }
    iconf = (ingest_conf_t){
        .group = conf.group,
        .brokers = conf.brokers,
        .xopts = &conf.xopts,
        .conninfo = conf.conninfo,
        .topics = default_topics,
        .topic_count = 3,
        .flush_rows = (size_t)conf.flush_rows,
        .flush_bytes = (size_t)conf.flush_bytes,
        .flush_ms = (int)conf.flush_ms,
        .max_message_bytes = (size_t)conf.max_message_bytes,
        .synchronous_commit = conf.synchronous_commit,
        .exit_when_idle_s = conf.exit_when_idle_s,
        .progress_s = conf.progress_s,
        .stall_timeout_s = conf.stall_timeout_s,
        .analytics = conf.analytics,
    };
    in = ingest_new(&iconf, metrics, errbuf, sizeof(errbuf));
    if (in == NULL) {
        LOG_ERROR("could not create the Kafka consumer: %s", errbuf);
        goto out;
    }
    if (conf.metrics_port > 0) {
        httpd = httpd_start(conf.metrics_bind, (int)conf.metrics_port, metrics, ingest_health, in,
                            errbuf, sizeof(errbuf));
        if (httpd == NULL) {
            LOG_ERROR("could not serve metrics on %s:%d: %s", conf.metrics_bind,
                      (int)conf.metrics_port, errbuf);
            LOG_INFO("hint: pick another port with -p/--metrics-port, or 0 to turn it off");
            goto out;
        }
        LOG_INFO("metrics on http://%s:%d/metrics, health on /health", conf.metrics_bind,
                 httpd_port(httpd));
    }
    LOG_INFO("consuming %s as group \"%s\" from %s", "user-events, transactions, inventory-updates",
             conf.group, kafka_bootstrap(conf.brokers, &conf.xopts));
    rc = ingest_run(in);
    if (term_signal())
        LOG_INFO("stopped by signal %d", term_signal());
out:
    httpd_stop(httpd);
    ingest_destroy(in);
    metrics_destroy(metrics);
    kafka_xopts_free(&conf.xopts);
    return rc;
}
