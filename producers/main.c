/*
 * main.c - ecom-simulator: options, wiring, producer threads, progress lines
 * and the run summary.
 *
 * Three producer threads (user events, transactions, inventory updates) take
 * messages from the shared world (world.c) in schedule order, wait until each
 * is due (unless --max-rate) and hand it to one shared librdkafka producer.
 * The main thread serves delivery reports, prints progress, and on stop
 * (signal, --duration, --max-events) flushes and prints the summary: a JSON
 * object on stdout and a line on stderr.
 */
#include "catalog.h"
#include "config.h"
#include "elog.h"
#include "kafka.h"
#include "term.h"
#include "ts.h"
#include "world.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "ecom-simulator"

typedef struct {
    const char *brokers;
    kafka_xopts_t xopts;
    double user_rate;        /* per second */
    double transaction_rate; /* per minute */
    double inventory_rate;   /* per minute */
    double multiplier;
    int max_rate;
    double duration_s;
    int64_t max_events;
    uint64_t seed;
    int seed_given;
    double progress_s;
    double cart_prob;
    double checkout_prob;
    world_faults_t faults;
    int flush_timeout_ms;
} sim_conf_t;

static sim_conf_t conf = {
    .user_rate = 20,
    .transaction_rate = 60,
    .inventory_rate = 40,
    .multiplier = 1,
    .progress_s = 10,
    .cart_prob = 0.25,
    .checkout_prob = 0.6,
    .flush_timeout_ms = 30000,
};

/* Sent-message counts per stream and kind, plus tags, for the summary. */
typedef struct {
    atomic_uint_fast64_t kind[WORLD_KINDS];
    atomic_uint_fast64_t late, price_spike, fraud_burst, large_order;
} sent_counts_t;

/* One producer thread: one stream, or (stream < 0, max-rate mode) every
 * stream in schedule order. */
typedef struct {
    int stream;
    rd_kafka_t *rk;
    rd_kafka_topic_t **rkt;      /* per stream */
    world_t *world;
    kafka_counters_t *counters;  /* per stream */
    sent_counts_t *sent;         /* per stream */
    int64_t start_us;
    int64_t deadline_us; /* 0 = none */
    atomic_int done;
} producer_thread_t;

static void usage(void)
{
    printf("%s produces realistic e-commerce events to Kafka.\n\n", PROGNAME);
    printf("Usage:\n  %s [OPTION]...\n\n", PROGNAME);
    printf("Kafka options:\n"
           "  -b, --brokers=LIST           bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or %s)\n"
           "  -X KEY=VALUE                 librdkafka producer property (repeatable); -X list shows them\n\n",
           KAFKA_DEFAULT_BOOTSTRAP);
    printf("Rates:\n"
           "  -u, --user-rate=N            user events per second (default: 20)\n"
           "  -t, --transaction-rate=N     transactions per minute (default: 60)\n"
           "  -i, --inventory-rate=N       inventory updates per minute (default: 40)\n"
           "  -m, --multiplier=X           multiply every rate (default: 1)\n"
           "      --max-rate               produce as fast as possible, keeping the mix\n\n");
    printf("Run:\n"
           "  -d, --duration=SECONDS       stop after this long (default: 0, run until stopped)\n"
           "  -n, --max-events=N           stop after N messages in total (default: 0, unlimited)\n"
           "  -s, --seed=N                 random seed; same seed, same events (default: clock)\n"
           "  -P, --progress=SECONDS       progress line interval, 0 = off (default: 10)\n"
           "      --cart-prob=P            a product view leads to add_to_cart (default: 0.25)\n"
           "      --checkout-prob=P        a session with a cart ends in a purchase (default: 0.6)\n\n");
    printf("Fault injection (probability per message, 0 to 1, default: 0):\n"
           "      --fault-rate=P           set every fault below at once\n"
           "      --malformed=P            broken JSON\n"
           "      --missing-field=P        a required field left out\n"
           "      --duplicate=P            the same message sent twice (same id)\n"
           "      --late=P                 timestamp 2 to 10 minutes in the past\n"
           "      --price-spike=P          a price 5 to 20 times the list price\n"
           "      --fraud=P                a transaction starts a burst by one user or a huge order\n\n");
    printf("Other:\n"
           "      --dump-catalog           print products, stock and users as CSV and exit\n"
           "  -V, --version                print version and exit\n"
           "  -h, --help                   show this help and exit\n\n");
    printf("Environment: KAFKA_BOOTSTRAP_SERVERS, LOG_LEVEL, ECOM_ENV_FILE (default: ./.env),\n"
           "SIMULATOR_USER_RATE, SIMULATOR_TRANSACTION_RATE, SIMULATOR_INVENTORY_RATE,\n"
           "SIMULATOR_MULTIPLIER. Flags override the environment.\n"
           "The summary is printed as JSON on stdout; logs go to stderr.\n");
}

static void version(void)
{
    printf("%s %s (librdkafka %s)\n", PROGNAME, ECOM_VERSION, rd_kafka_version_str());
}

enum {
    OPT_MAX_RATE = 1000,
    OPT_CART_PROB,
    OPT_CHECKOUT_PROB,
    OPT_FAULT_RATE,
    OPT_MALFORMED,
    OPT_MISSING,
    OPT_DUPLICATE,
    OPT_LATE,
    OPT_PRICE_SPIKE,
    OPT_FRAUD,
    OPT_DUMP_CATALOG,
};

static double env_rate(const char *name, double def)
{
    const char *v = config_env_str(name, NULL);
    double out = def;
    if (v != NULL && config_parse_double(v, 0, 1e7, &out) != 0)
        config_usage_error("invalid value \"%s\" for environment variable %s", v, name);
    return out;
}

static void parse_args(int argc, char **argv, int *dump_catalog)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"user-rate", required_argument, NULL, 'u'},
        {"transaction-rate", required_argument, NULL, 't'},
        {"inventory-rate", required_argument, NULL, 'i'},
        {"multiplier", required_argument, NULL, 'm'},
        {"max-rate", no_argument, NULL, OPT_MAX_RATE},
        {"duration", required_argument, NULL, 'd'},
        {"max-events", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"progress", required_argument, NULL, 'P'},
        {"cart-prob", required_argument, NULL, OPT_CART_PROB},
        {"checkout-prob", required_argument, NULL, OPT_CHECKOUT_PROB},
        {"fault-rate", required_argument, NULL, OPT_FAULT_RATE},
        {"malformed", required_argument, NULL, OPT_MALFORMED},
        {"missing-field", required_argument, NULL, OPT_MISSING},
        {"duplicate", required_argument, NULL, OPT_DUPLICATE},
        {"late", required_argument, NULL, OPT_LATE},
        {"price-spike", required_argument, NULL, OPT_PRICE_SPIKE},
        {"fraud", required_argument, NULL, OPT_FRAUD},
        {"dump-catalog", no_argument, NULL, OPT_DUMP_CATALOG},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    world_faults_t *f = &conf.faults;
    int c;

    conf.user_rate = env_rate("SIMULATOR_USER_RATE", conf.user_rate);
    conf.transaction_rate = env_rate("SIMULATOR_TRANSACTION_RATE", conf.transaction_rate);
    conf.inventory_rate = env_rate("SIMULATOR_INVENTORY_RATE", conf.inventory_rate);
    conf.multiplier = env_rate("SIMULATOR_MULTIPLIER", conf.multiplier);

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":b:X:u:t:i:m:d:n:s:P:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': conf.brokers = optarg; break;
        case 'X': kafka_xopts_flag(&conf.xopts, optarg, "-X"); break;
        case 'u': conf.user_rate = config_flag_double(optarg, 0, 1e7, "-u/--user-rate"); break;
        case 't': conf.transaction_rate = config_flag_double(optarg, 0, 1e8, "-t/--transaction-rate"); break;
        case 'i': conf.inventory_rate = config_flag_double(optarg, 0, 1e8, "-i/--inventory-rate"); break;
        case 'm': conf.multiplier = config_flag_double(optarg, 1e-3, 1e6, "-m/--multiplier"); break;
        case OPT_MAX_RATE: conf.max_rate = 1; break;
        case 'd': conf.duration_s = config_flag_double(optarg, 0, 1e9, "-d/--duration"); break;
        case 'n': conf.max_events = config_flag_int64(optarg, 0, INT64_MAX, "-n/--max-events"); break;
        case 's':
            conf.seed = (uint64_t)config_flag_int64(optarg, 0, INT64_MAX, "-s/--seed");
            conf.seed_given = 1;
            break;
        case 'P': conf.progress_s = config_flag_double(optarg, 0, 86400, "-P/--progress"); break;
        case OPT_CART_PROB: conf.cart_prob = config_flag_double(optarg, 0, 1, "--cart-prob"); break;
        case OPT_CHECKOUT_PROB: conf.checkout_prob = config_flag_double(optarg, 0, 1, "--checkout-prob"); break;
        case OPT_FAULT_RATE: {
            double p = config_flag_double(optarg, 0, 0.5, "--fault-rate");
            *f = (world_faults_t){p, p, p, p, p, p};
            break;
        }
        case OPT_MALFORMED: f->malformed = config_flag_double(optarg, 0, 1, "--malformed"); break;
        case OPT_MISSING: f->missing_field = config_flag_double(optarg, 0, 1, "--missing-field"); break;
        case OPT_DUPLICATE: f->duplicate = config_flag_double(optarg, 0, 1, "--duplicate"); break;
        case OPT_LATE: f->late = config_flag_double(optarg, 0, 1, "--late"); break;
        case OPT_PRICE_SPIKE: f->price_spike = config_flag_double(optarg, 0, 1, "--price-spike"); break;
        case OPT_FRAUD: f->fraud = config_flag_double(optarg, 0, 1, "--fraud"); break;
        case OPT_DUMP_CATALOG: *dump_catalog = 1; break;
        case 'V': version(); exit(0);
        case 'h': usage(); exit(0);
        default: config_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        config_usage_error("unexpected argument \"%s\"", argv[optind]);
    if (f->malformed + f->missing_field > 1)
        config_usage_error("--malformed plus --missing-field must not exceed 1");
    if (conf.user_rate == 0 && conf.transaction_rate == 0 && conf.inventory_rate == 0)
        config_usage_error("every rate is 0: nothing to produce");
}

static void count_sent(sent_counts_t *sent, const world_msg_t *msg)
{
    atomic_fetch_add(&sent->kind[msg->kind], 1);
    if (msg->tags & WORLD_TAG_LATE) atomic_fetch_add(&sent->late, 1);
    if (msg->tags & WORLD_TAG_PRICE_SPIKE) atomic_fetch_add(&sent->price_spike, 1);
    if (msg->tags & WORLD_TAG_FRAUD_BURST) atomic_fetch_add(&sent->fraud_burst, 1);
    if (msg->tags & WORLD_TAG_LARGE_ORDER) atomic_fetch_add(&sent->large_order, 1);
}

/* A producer thread: takes messages in schedule order, waits until each is
 * due (unless --max-rate), produces it to its stream's topic. */
static void *producer_main(void *arg)
{
    producer_thread_t *t = arg;
    world_msg_t msg;
    int since_poll = 0;

    while (!term_requested() &&
           (t->stream < 0 ? world_next_any(t->world, &msg)
                          : world_next(t->world, (world_stream_t)t->stream, &msg))) {
        int64_t due_us = t->start_us + (int64_t)((double)msg.due_us / conf.multiplier);
        int s = msg.stream;

        if (t->deadline_us && (conf.max_rate ? ts_monotonic_us() : due_us) >= t->deadline_us) {
            world_msg_free(&msg);
            break;
        }
        while (!conf.max_rate && !term_requested() && ts_monotonic_us() < due_us)
            ts_sleep_until_us(due_us, 100);
        if (term_requested()) {
            world_msg_free(&msg);
            break;
        }
        if (kafka_produce_copy(t->rk, t->rkt[s], &t->counters[s], msg.key, strlen(msg.key),
                               msg.payload, msg.len) == 0)
            count_sent(&t->sent[s], &msg);
        world_msg_free(&msg);
        /* Serve delivery reports now and then (not per message: it locks). */
        if (conf.max_rate && ++since_poll == 64) {
            rd_kafka_poll(t->rk, 0);
            since_poll = 0;
        }
    }
    atomic_store(&t->done, 1);
    return NULL;
}

static uint64_t total_of(kafka_counters_t *c, int field)
{
    uint64_t sum = 0;
    for (int s = 0; s < WORLD_STREAMS; s++)
        sum += field == 0 ? atomic_load(&c[s].produced)
               : field == 1 ? atomic_load(&c[s].delivered)
                            : atomic_load(&c[s].failed);
    return sum;
}

static void print_progress(rd_kafka_t *rk, kafka_counters_t *c, double elapsed_s,
                           double interval_s, uint64_t prev[WORLD_STREAMS])
{
    char rates[256];
    int off = 0;

    for (int s = 0; s < WORLD_STREAMS; s++) {
        uint64_t now = atomic_load(&c[s].produced);
        off += snprintf(rates + off, sizeof(rates) - (size_t)off, "%s%s %.1f/s",
                        s ? ", " : "", world_topic_names[s],
                        interval_s > 0 ? (double)(now - prev[s]) / interval_s : 0);
        prev[s] = now;
    }
    LOG_INFO("progress: %.1f s, %s, produced %llu, delivered %llu, failed %llu, in flight %d",
             elapsed_s, rates, (unsigned long long)total_of(c, 0),
             (unsigned long long)total_of(c, 1), (unsigned long long)total_of(c, 2),
             rd_kafka_outq_len(rk));
}

static void print_summary(kafka_counters_t *c, sent_counts_t *sent, double elapsed_s,
                          int undelivered)
{
    uint64_t produced = total_of(c, 0), delivered = total_of(c, 1);
    uint64_t failed = total_of(c, 2) + (uint64_t)undelivered;

    printf("{\"elapsed_s\":%.3f,\"seed\":%llu,\"produced\":%llu,\"delivered\":%llu,"
           "\"failed\":%llu,\"events_per_s\":%.1f,\"topics\":{",
           elapsed_s, (unsigned long long)conf.seed, (unsigned long long)produced,
           (unsigned long long)delivered, (unsigned long long)failed,
           elapsed_s > 0 ? (double)delivered / elapsed_s : 0);
    for (int s = 0; s < WORLD_STREAMS; s++) {
        sent_counts_t *k = &sent[s];
        printf("%s\"%s\":{\"produced\":%llu,\"delivered\":%llu,\"failed\":%llu,"
               "\"bytes\":%llu,\"valid_unique\":%llu,\"malformed\":%llu,"
               "\"missing_field\":%llu,\"duplicate\":%llu,\"late\":%llu,"
               "\"price_spike\":%llu,\"fraud_burst\":%llu,\"large_order\":%llu}",
               s ? "," : "", world_topic_names[s],
               (unsigned long long)atomic_load(&c[s].produced),
               (unsigned long long)atomic_load(&c[s].delivered),
               (unsigned long long)atomic_load(&c[s].failed),
               (unsigned long long)atomic_load(&c[s].bytes),
               (unsigned long long)atomic_load(&k->kind[WORLD_KIND_VALID]),
               (unsigned long long)atomic_load(&k->kind[WORLD_KIND_MALFORMED]),
               (unsigned long long)atomic_load(&k->kind[WORLD_KIND_MISSING_FIELD]),
               (unsigned long long)atomic_load(&k->kind[WORLD_KIND_DUPLICATE]),
               (unsigned long long)atomic_load(&k->late),
               (unsigned long long)atomic_load(&k->price_spike),
               (unsigned long long)atomic_load(&k->fraud_burst),
               (unsigned long long)atomic_load(&k->large_order));
    }
    printf("}}\n");
    fflush(stdout);
    LOG_INFO("summary: %.1f s, produced %llu, delivered %llu, failed %llu (%.1f events/s)",
             elapsed_s, (unsigned long long)produced, (unsigned long long)delivered,
             (unsigned long long)failed, elapsed_s > 0 ? (double)delivered / elapsed_s : 0);
}

static rd_kafka_t *create_producer(char *errbuf, size_t errsize)
{
    static const char *const defaults[] = {
        "acks", "all",
        "enable.idempotence", "true",
        "message.send.max.retries", "3",
        "batch.size", "16384",
        "linger.ms", "10",
        "queue.buffering.max.kbytes", "32768",
        "compression.type", "snappy",
        NULL,
    };
    rd_kafka_conf_t *kconf = kafka_conf_build(conf.brokers, PROGNAME, defaults,
                                              &conf.xopts, errbuf, errsize);
    rd_kafka_t *rk;

    if (kconf == NULL)
        return NULL;
    kafka_conf_set_delivery_counters(kconf);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errbuf, errsize);
    if (rk == NULL)
        rd_kafka_conf_destroy(kconf);
    return rk;
}

int main(int argc, char **argv)
{
    kafka_counters_t counters[WORLD_STREAMS];
    sent_counts_t sent[WORLD_STREAMS];
    producer_thread_t threads[WORLD_STREAMS];
    pthread_t tids[WORLD_STREAMS];
    int started = 0, dump_catalog = 0, undelivered = 0, rc = 1;
    uint64_t prev[WORLD_STREAMS] = {0};
    char errbuf[512];
    world_conf_t wconf;
    world_t *world = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *topics[WORLD_STREAMS] = {NULL};
    int nthreads;
    int64_t start_us, next_progress_us, last_progress_us;

    config_start(PROGNAME);
    parse_args(argc, argv, &dump_catalog);
    if (dump_catalog) {
        catalog_dump_csv(stdout);
        kafka_xopts_free(&conf.xopts);
        return 0;
    }
    if (!conf.seed_given)
        conf.seed = (uint64_t)ts_now_ms();
    term_install();

    rk = create_producer(errbuf, sizeof(errbuf));
    if (rk == NULL) {
        LOG_ERROR("could not create the Kafka producer: %s", errbuf);
        goto out;
    }
    memset(counters, 0, sizeof(counters));
    memset(sent, 0, sizeof(sent));
    wconf = (world_conf_t){
        .seed = conf.seed,
        .rate = {conf.user_rate, conf.transaction_rate / 60.0, conf.inventory_rate / 60.0},
        .max_events = conf.max_events,
        .cart_prob = conf.cart_prob,
        .checkout_prob = conf.checkout_prob,
        .faults = conf.faults,
        .max_rate = conf.max_rate,
        .multiplier = conf.multiplier,
        .start_wall_ms = ts_now_ms(),
    };
    world = world_new(&wconf);
    if (world == NULL) {
        LOG_ERROR("out of memory");
        goto out;
    }
    LOG_INFO("producing to %s: user-events %.2f/s, transactions %.2f/min, inventory-updates %.2f/min, x%g%s, seed %llu",
             kafka_bootstrap(conf.brokers, &conf.xopts), conf.user_rate,
             conf.transaction_rate, conf.inventory_rate, conf.multiplier,
             conf.max_rate ? ", max rate" : "", (unsigned long long)conf.seed);

    for (int s = 0; s < WORLD_STREAMS; s++) {
        counters[s].topic = world_topic_names[s];
        topics[s] = rd_kafka_topic_new(rk, world_topic_names[s], NULL);
    }
    /* One thread per stream paces the documented rates; in max-rate mode a
     * single thread keeps schedule order without queues or lock handoffs
     * (librdkafka's own threads do the network I/O). */
    nthreads = conf.max_rate ? 1 : WORLD_STREAMS;
    start_us = ts_monotonic_us();
    for (int i = 0; i < nthreads; i++) {
        threads[i] = (producer_thread_t){
            .stream = conf.max_rate ? -1 : i,
            .rk = rk,
            .rkt = topics,
            .world = world,
            .counters = counters,
            .sent = sent,
            .start_us = start_us,
            .deadline_us = conf.duration_s > 0 ? start_us + (int64_t)(conf.duration_s * 1e6) : 0,
        };
        if (pthread_create(&tids[i], NULL, producer_main, &threads[i]) != 0) {
            LOG_ERROR("could not start producer thread %d", i);
            term_request();
            break;
        }
        started++;
    }

    next_progress_us = last_progress_us = start_us;
    next_progress_us += (int64_t)(conf.progress_s * 1e6);
    for (;;) {
        int running = 0;
        for (int s = 0; s < started; s++)
            running += !atomic_load(&threads[s].done);
        if (running == 0)
            break;
        if (conf.max_rate) /* the producer thread serves delivery reports */
            ts_sleep_until_us(ts_monotonic_us() + 100000, 100);
        else
            rd_kafka_poll(rk, 100);
        if (conf.progress_s > 0 && ts_monotonic_us() >= next_progress_us) {
            int64_t now = ts_monotonic_us();
            print_progress(rk, counters, (double)(now - start_us) / 1e6,
                           (double)(now - last_progress_us) / 1e6, prev);
            last_progress_us = now;
            while (next_progress_us <= now)
                next_progress_us += (int64_t)(conf.progress_s * 1e6);
        }
    }
    for (int s = 0; s < started; s++)
        pthread_join(tids[s], NULL);

    if (term_signal())
        LOG_INFO("received signal %d, flushing", term_signal());
    undelivered = kafka_flush(rk, conf.flush_timeout_ms);
    if (undelivered > 0)
        LOG_ERROR("%d messages were still undelivered after %d ms", undelivered,
                  conf.flush_timeout_ms);
    print_summary(counters, sent, (double)(ts_monotonic_us() - start_us) / 1e6, undelivered);
    rc = undelivered == 0 && total_of(counters, 2) == 0 && !kafka_fatal_seen() ? 0 : 1;
out:
    for (int s = 0; s < WORLD_STREAMS; s++)
        if (topics[s] != NULL)
            rd_kafka_topic_destroy(topics[s]);
    world_destroy(world);
    if (rk != NULL)
        rd_kafka_destroy(rk);
    kafka_xopts_free(&conf.xopts);
    return rc;
}
