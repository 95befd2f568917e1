/*
 * broker/main.c - ecom-broker: a development Kafka broker for ecom-pipeline.
 *
 * Owns the options, the wiring and the run loop: a librdkafka mock cluster
 * with the pipeline's topics (cluster.c) behind a fixed bootstrap address
 * (forwarder.c). Everything lives in memory and is gone when the process
 * exits; this is not a replacement for a real Kafka, only for running and
 * testing the daemons without one.
 */
#include "cluster.h"
#include "config.h"
#include "elog.h"
#include "forwarder.h"
#include "kafka.h"
#include "term.h"
#include "ts.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "ecom-broker"
#define MAX_TOPICS 64
#define TOPIC_NAME_MAX 249 /* Kafka's limit */

typedef struct {
    char name[TOPIC_NAME_MAX + 1];
    int partitions; /* -1: take --partitions */
} topic_spec_t;

/* Defaults; the environment and then the flags are applied on top. */
static struct {
    const char *listen;  /* NULL: KAFKA_BOOTSTRAP_SERVERS, else localhost:9092 */
    int brokers;
    int partitions;      /* -1: TOPIC_PARTITIONS, else 3 */
    int progress_s;      /* 0: off */
    topic_spec_t topics[MAX_TOPICS];
    int ntopics;
    kafka_xopts_t x;
} conf = {
    .listen = NULL,
    .brokers = 1,
    .partitions = -1,
    .progress_s = 0,
    .topics = {{"user-events", -1}, {"transactions", -1}, {"inventory-updates", -1}},
    .ntopics = 3,
};

static void usage(void)
{
    printf("%s is a development Kafka broker for ecom-pipeline: an in-memory\n"
           "librdkafka mock cluster behind a fixed bootstrap address.\n\n",
           PROGNAME);
    printf("Usage:\n  %s [OPTION]...\n\n", PROGNAME);
    printf("Broker options:\n"
           "  -l, --listen=HOST:PORT   bootstrap address clients connect to\n"
           "                           (default: first entry of KAFKA_BOOTSTRAP_SERVERS,\n"
           "                           else %s)\n"
           "  -b, --brokers=NUM        number of mock brokers (default: 1)\n"
           "  -p, --partitions=NUM     partitions of the default topics\n"
           "                           (default: TOPIC_PARTITIONS, else 3)\n"
           "  -t, --topic=NAME[:NUM]   create topic NAME, or set the partition count of a\n"
           "                           default topic; repeatable (default NUM: --partitions)\n"
           "  -X, --property=KEY=VALUE librdkafka setting for the handle hosting the\n"
           "                           cluster; \"-X list\" lists them. To trace the mock\n"
           "                           brokers: -X debug=mock with LOG_LEVEL=debug\n",
           KAFKA_DEFAULT_BOOTSTRAP);
    printf("\nCommon options:\n"
           "  -P, --progress=NUM       every NUM seconds, show the connections and bytes\n"
           "                           relayed through --listen (default: 0, off)\n"
           "  -h, --help               show this help, then exit\n"
           "  -V, --version            show version information, then exit\n");
    printf("\nTopics created at start: user-events, transactions, inventory-updates\n"
           "and those given with --topic.\n"
           "Their partition P is led by broker P %% NUM + 1 (NUM: --brokers). Other\n"
           "topics are created on first use with the mock cluster's default of 4\n"
           "partitions. Each partition is stored once: replication is not simulated\n"
           "(with several brokers the metadata still lists up to 3 replicas).\n");
    printf("\nStorage: the broker is in-memory. Messages, committed offsets and consumer\n"
           "groups are lost when it exits. It keeps only about 5 MiB per partition:\n"
           "when a batch is appended, the oldest record batches are dropped while the\n"
           "partition holds more than 5 MiB (5242880 bytes, as sent, after compression)\n"
           "or more than 100000 batches; the newest batch is always kept. Dropped data is\n"
           "gone even if nobody read it (the log start offset moves forward). There is\n"
           "no time-based retention.\n");
    printf("\nConsumer groups: when a member joins (or leaves) a group that is already\n"
           "up, the mock rebalances only after the session timeout minus 1 s (44 s\n"
           "with librdkafka's default session.timeout.ms=45000); clients can set a\n"
           "shorter session.timeout.ms, e.g. 6000, in development.\n");
    printf("\nNetwork: clients bootstrap through --listen; the metadata they get back\n"
           "points them at the mock brokers themselves, which listen on 127.0.0.1 with\n"
           "ephemeral ports. Clients must therefore run on this host (not in another\n"
           "container). Only the bootstrap traffic passes through ecom-broker's own\n"
           "relay (and its -P counters). At start one line goes to stdout:\n"
           "  bootstrap=HOST:PORT brokers=127.0.0.1:PORT[,...]\n");
    printf("\nEnvironment (also read from .env, or the file named by ECOM_ENV_FILE):\n"
           "  KAFKA_BOOTSTRAP_SERVERS  its first entry is the default --listen\n"
           "  TOPIC_PARTITIONS         default --partitions\n"
           "  LOG_LEVEL                error, warn, info (default) or debug\n");
    printf("\nOutages for testing: SIGUSR1 takes every mock broker down (connections\n"
           "closed, new ones refused, data kept), SIGUSR2 brings them back. A restarted\n"
           "ecom-broker is a new, empty cluster with another cluster id: restart its\n"
           "clients too.\n");
    printf("\nExit status: 0 after SIGINT/SIGTERM, 1 on a runtime failure (e.g. the\n"
           "listen port is in use), 2 on a usage error.\n");
}

static void version(void)
{
    printf("%s (ecom-pipeline) %s, librdkafka %s\n", PROGNAME, ECOM_VERSION,
           rd_kafka_version_str());
}

/* Kafka topic names: 1-249 of [a-zA-Z0-9._-]. */
static int valid_topic_name(const char *name, size_t len)
{
    if (len == 0 || len > TOPIC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* -t NAME[:NUM]: adds a topic, or replaces the partition count of one. */
static void add_topic_arg(const char *arg)
{
    const char *colon = strchr(arg, ':');
    size_t len = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
    int partitions = -1;
    topic_spec_t *t = NULL;

    if (!valid_topic_name(arg, len))
        config_usage_error("invalid value \"%s\" for option -t/--topic (expected NAME[:PARTITIONS], NAME of 1 to %d characters from [a-zA-Z0-9._-])",
                           arg, TOPIC_NAME_MAX);
    if (colon != NULL)
        partitions = (int)config_flag_int64(colon + 1, 1, 10000, "-t/--topic partitions");
    for (int i = 0; i < conf.ntopics; i++)
        if (strlen(conf.topics[i].name) == len &&
            strncmp(conf.topics[i].name, arg, len) == 0)
            t = &conf.topics[i];
    if (t == NULL) {
        if (conf.ntopics == MAX_TOPICS)
            config_usage_error("too many topics (at most %d)", MAX_TOPICS);
        t = &conf.topics[conf.ntopics++];
        memcpy(t->name, arg, len);
        t->name[len] = '\0';
    }
    t->partitions = partitions;
}

/* The default listen address: KAFKA_BOOTSTRAP_SERVERS's first entry without
 * a "PLAINTEXT://"-style prefix, else localhost:9092. */
static const char *default_listen(void)
{
    static char first[256];
    const char *env = config_env_str("KAFKA_BOOTSTRAP_SERVERS", KAFKA_DEFAULT_BOOTSTRAP);
    const char *scheme = strstr(env, "://");
    size_t len;

    if (scheme != NULL && scheme < env + strcspn(env, ","))
        env = scheme + 3;
    len = strcspn(env, ",");
    while (len > 0 && env[len - 1] == ' ')
        len--;
    snprintf(first, sizeof(first), "%.*s", (int)len, env);
    return first;
}

static void parse_args(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"property", required_argument, NULL, 'X'},
        {"progress", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    char host[256], port[8];
    int c;

    opterr = 0; /* report unknown options in our own format */
    while ((c = getopt_long(argc, argv, ":l:b:p:t:X:P:hV", long_options, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (fwd_split_hostport(optarg, host, sizeof(host), port, sizeof(port)))
                config_usage_error("invalid value \"%s\" for option -l/--listen (expected HOST:PORT with a port from 1 to 65535)",
                                   optarg);
            conf.listen = optarg;
            break;
        case 'b':
            conf.brokers = (int)config_flag_int64(optarg, 1, 32, "-b/--brokers");
            break;
        case 'p':
            conf.partitions = (int)config_flag_int64(optarg, 1, 10000, "-p/--partitions");
            break;
        case 't':
            add_topic_arg(optarg);
            break;
        case 'X': kafka_xopts_flag(&conf.x, optarg, "-X/--property"); break;
        case 'P':
            conf.progress_s = (int)config_flag_int64(optarg, 0, 86400, "-P/--progress");
            break;
        case 'h':
            usage();
            exit(0);
        case 'V':
            version();
            exit(0);
        default:
            config_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        config_usage_error("too many command-line arguments (first is \"%s\")",
                           argv[optind]);
}

/* Applies the environment where no flag was given, then checks it. */
static void resolve_defaults(void)
{
    char host[256], port[8];

    if (conf.partitions < 0) {
        const char *env = config_env_str("TOPIC_PARTITIONS", NULL);
        int64_t v = 3;

        if (env != NULL && config_parse_int64(env, 1, 10000, &v) != 0)
            config_usage_error("invalid value \"%s\" for environment variable TOPIC_PARTITIONS (expected an integer from 1 to 10000)",
                               env);
        conf.partitions = (int)v;
    }
    for (int i = 0; i < conf.ntopics; i++)
        if (conf.topics[i].partitions < 0)
            conf.topics[i].partitions = conf.partitions;
    if (conf.listen == NULL) {
        conf.listen = default_listen();
        if (fwd_split_hostport(conf.listen, host, sizeof(host), port, sizeof(port)))
            config_usage_error("invalid listen address \"%s\" from KAFKA_BOOTSTRAP_SERVERS (expected HOST:PORT); use -l/--listen",
                               conf.listen);
    }
}

/* One pgbench-style line for the interval since the previous one. */
static void progress_report(const fwd_stats_t *now, const fwd_stats_t *prev,
                            int64_t start_ms, int64_t prev_ms, int64_t now_ms)
{
    double secs = (double)(now_ms - prev_ms) / 1000.0;

    if (secs <= 0)
        secs = 0.001;
    LOG_INFO("progress: %.1f s, %" PRIu64 " connections accepted (+%" PRIu64 "), %" PRIu64 " active, %.1f KiB/s up, %.1f KiB/s down, %" PRIu64 " failed",
             (double)(now_ms - start_ms) / 1000.0, now->accepted,
             now->accepted - prev->accepted, now->active,
             (double)(now->bytes_up - prev->bytes_up) / 1024.0 / secs,
             (double)(now->bytes_down - prev->bytes_down) / 1024.0 / secs,
             now->connect_failed);
}

/* SIGUSR1 takes the brokers down, SIGUSR2 brings them back (for outage
 * tests); the handler only records the request. */
static volatile sig_atomic_t outage_request; /* 0 none, 1 down, 2 up */

static void on_outage_signal(int sig)
{
    outage_request = sig == SIGUSR1 ? 1 : 2;
}

static void install_outage_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_outage_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
}

static void apply_outage_request(mockc_t *mc)
{
    int request = outage_request;

    if (request == 0)
        return;
    outage_request = 0;
    mockc_set_brokers_up(mc, request == 2);
    LOG_WARN("%s", request == 1 ? "outage: brokers are down (SIGUSR2 brings them back)"
                                : "outage over: brokers are up");
}

/* Relays until SIGINT/SIGTERM. Returns the exit status. */
static int run(fwd_t *fwd, mockc_t *mc)
{
    fwd_stats_t prev = {0}, now = {0};
    int64_t start_ms = ts_monotonic_ms(), prev_ms = start_ms;
    int64_t next_ms = start_ms + (int64_t)conf.progress_s * 1000;
    int status = 0;

    while (!term_requested()) {
        int64_t t;

        if (fwd_poll(fwd, 100) != 0) {
            status = 1;
            break;
        }
        mockc_poll(mc);
        apply_outage_request(mc);
        if (kafka_fatal_seen()) {
            status = 1;
            break;
        }
        if (conf.progress_s == 0 || (t = ts_monotonic_ms()) < next_ms)
            continue;
        fwd_stats(fwd, &now);
        progress_report(&now, &prev, start_ms, prev_ms, t);
        prev = now;
        prev_ms = t;
        /* Skip missed deadlines so that a stall causes no burst. */
        while (next_ms <= t)
            next_ms += (int64_t)conf.progress_s * 1000;
    }
    fwd_stats(fwd, &now);
    if (term_signal() != 0)
        LOG_INFO("stopping on %s", strsignal(term_signal()));
    LOG_INFO("summary: %" PRIu64 " connections accepted, %" PRIu64 " bytes forwarded (%" PRIu64 " up, %" PRIu64 " down), %" PRIu64 " failed to connect",
             now.accepted, now.bytes_up + now.bytes_down, now.bytes_up,
             now.bytes_down, now.connect_failed);
    return status;
}

int main(int argc, char **argv)
{
    /* The hosting handle never connects anywhere: clear the bootstrap
     * list that kafka_conf_build() takes from the environment, and keep
     * librdkafka's notice about that empty list out of the log (warnings
     * and errors still show; -X debug=mock raises the level). */
    static const char *const kafka_defaults[] = {"bootstrap.servers", "",
                                                 "log_level", "4", NULL};
    rd_kafka_conf_t *kconf = NULL;
    mockc_t *mc = NULL;
    fwd_t *fwd = NULL;
    char errbuf[512];
    int status = 1;

    config_set_progname(PROGNAME);
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0)) {
        usage();
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        version();
        return 0;
    }
    if (config_load_env_file(NULL, errbuf, sizeof(errbuf)) < 0)
        config_usage_error("%s", errbuf);
    elog_init(PROGNAME);
    parse_args(argc, argv);
    resolve_defaults();
    /* Validate the -X pairs before creating anything. */
    kconf = kafka_conf_build(NULL, PROGNAME, kafka_defaults, &conf.x, errbuf,
                             sizeof(errbuf));
    if (kconf == NULL)
        config_usage_error("%s", errbuf);

    term_install();
    install_outage_signals();
    mc = mockc_new(kconf, conf.brokers, errbuf, sizeof(errbuf));
    kconf = NULL; /* mockc_new() took it */
    if (mc == NULL) {
        LOG_ERROR("%s", errbuf);
        goto out;
    }
    for (int i = 0; i < conf.ntopics; i++)
        if (mockc_topic_create(mc, conf.topics[i].name, conf.topics[i].partitions,
                               errbuf, sizeof(errbuf)) != 0) {
            LOG_ERROR("%s", errbuf);
            goto out;
        }
    fwd = fwd_new(conf.listen, mockc_bootstraps(mc), errbuf, sizeof(errbuf));
    if (fwd == NULL) {
        int in_use = errno == EADDRINUSE;

        LOG_ERROR("%s", errbuf);
        if (in_use)
            LOG_INFO("hint: is another broker (ecom-broker or the docker-compose kafka) using that port? choose another with -l HOST:PORT");
        goto out;
    }

    printf("bootstrap=%s brokers=%s\n", conf.listen, mockc_bootstraps(mc));
    fflush(stdout);
    LOG_INFO("in-memory broker ready: bootstrap %s, %d mock broker(s) at %s, %d topic(s)",
             conf.listen, conf.brokers, mockc_bootstraps(mc), conf.ntopics);
    for (int i = 0; i < conf.ntopics; i++)
        LOG_INFO("topic \"%s\": %d partition(s)", conf.topics[i].name,
                 conf.topics[i].partitions);
    status = run(fwd, mc);

out:
    fwd_destroy(fwd);
    mockc_destroy(mc);
    kafka_xopts_free(&conf.x);
    return status;
}
