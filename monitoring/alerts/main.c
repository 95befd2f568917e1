/*
 * main.c - ecom-alerts: options, configuration, its /metrics and /health,
 * and the rounds of alertd.c. Logs on stderr (every notification among
 * them); nothing on stdout but --help and --version.
 */
#include "alertd.h"
#include "config.h"
#include "elog.h"
#include "httpd.h"
#include "metrics.h"
#include "term.h"

#include <curl/curl.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "ecom-alerts"
#define DEFAULT_RULES "monitoring/alerts/rules.conf"

static struct {
    const char *rules_path;
    double interval_s, timeout_s;
    int64_t port;
    const char *bind;
    int check;
    alertd_conf_t d;
} conf = {
    .interval_s = 10,
    .timeout_s = 3,
    .port = 9103,
    .bind = "127.0.0.1",
    .d = {.tries = 3, .max_attempts = 30},
};

static void usage(void)
{
    printf("%s evaluates the pipeline's alert rules on an interval and notifies: the log, a\n"
           "webhook, a Prometheus Alertmanager.\n\n",
           PROGNAME);
    printf("Usage:\n  %s [OPTION]...\n\n", PROGNAME);
    printf("  -r, --rules=FILE           the rule file (default: $ECOM_ALERT_RULES or %s)\n"
           "      --check                check the rule file, list its rules and exit\n"
           "  -d, --dbname=CONNINFO      PostgreSQL: the sources and the state (default: libpq's PG*)\n"
           "  -w, --webhook=URL          POST each notification as JSON (default: $ECOM_ALERT_WEBHOOK)\n"
           "  -a, --alertmanager=URL     an Alertmanager's base URL, /api/v2/alerts is posted to\n"
           "                             (default: $ALERTMANAGER_URL)\n"
           "  -i, --interval=SECONDS     between rounds (default: 10)\n"
           "      --timeout=SECONDS      one query or one HTTP try at most (default: 3)\n"
           "      --tries=N              HTTP tries per delivery attempt, 250 ms doubling (default: 3)\n"
           "      --max-attempts=N       delivery attempts, one a round, before giving up (default: 30)\n"
           "      --rounds=N             exit 0 after N rounds (default: until a signal)\n"
           "  -p, --port=PORT            /metrics and /health, 0 = off (default: $ECOM_ALERTS_PORT or 9103)\n"
           "      --bind=ADDR            address to listen on (default: 127.0.0.1)\n"
           "  -V, --version              print version and exit\n"
           "  -h, --help                 show this help and exit\n\n",
           DEFAULT_RULES);
    printf("A restart neither notifies again (alert_state) nor loses a notification (the\n"
           "alert_notifications outbox). SIGINT/SIGTERM end the round in progress and exit 0.\n"
           "Environment: ECOM_ALERT_RULES, ECOM_ALERT_WEBHOOK, ALERTMANAGER_URL, ECOM_ALERTS_PORT,\n"
           "LOG_LEVEL, PG* (libpq's), ECOM_ENV_FILE (default: ./.env). Flags override them.\n");
}

enum { OPT_CHECK = 1000, OPT_TIMEOUT, OPT_TRIES, OPT_ATTEMPTS, OPT_ROUNDS, OPT_BIND };

static const char *url_or_null(const char *v, const char *what)
{
    if (v == NULL || v[0] == '\0')
        return NULL;
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        config_usage_error("invalid %s \"%s\" (expected an http:// or https:// URL)", what, v);
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},       {"check", no_argument, NULL, OPT_CHECK},
        {"dbname", required_argument, NULL, 'd'},      {"webhook", required_argument, NULL, 'w'},
        {"alertmanager", required_argument, NULL, 'a'}, {"interval", required_argument, NULL, 'i'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT}, {"tries", required_argument, NULL, OPT_TRIES},
        {"max-attempts", required_argument, NULL, OPT_ATTEMPTS}, {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"port", required_argument, NULL, 'p'},        {"bind", required_argument, NULL, OPT_BIND},
        {"version", no_argument, NULL, 'V'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *webhook = config_env_str("ECOM_ALERT_WEBHOOK", NULL), *am = config_env_str("ALERTMANAGER_URL", NULL);
    const char *port = config_env_str("ECOM_ALERTS_PORT", NULL);
    int c;

    conf.rules_path = config_env_str("ECOM_ALERT_RULES", DEFAULT_RULES);
    if (port != NULL && config_parse_int64(port, 0, 65535, &conf.port) != 0)
        config_usage_error("invalid value \"%s\" for environment variable ECOM_ALERTS_PORT", port);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:d:w:a:i:p:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': conf.rules_path = optarg; break;
        case OPT_CHECK: conf.check = 1; break;
        case 'd': conf.d.conninfo = optarg; break;
        case 'w': webhook = optarg; break;
        case 'a': am = optarg; break;
        case 'i': conf.interval_s = config_flag_double(optarg, 0.1, 86400, "-i/--interval"); break;
        case OPT_TIMEOUT: conf.timeout_s = config_flag_double(optarg, 0.1, 600, "--timeout"); break;
        case OPT_TRIES: conf.d.tries = (int)config_flag_int64(optarg, 1, 10, "--tries"); break;
        case OPT_ATTEMPTS: conf.d.max_attempts = (int)config_flag_int64(optarg, 1, 100000, "--max-attempts"); break;
        case OPT_ROUNDS: conf.d.max_rounds = config_flag_int64(optarg, 1, 1000000000, "--rounds"); break;
        case 'p': conf.port = config_flag_int64(optarg, 0, 65535, "-p/--port"); break;
        case OPT_BIND: conf.bind = optarg; break;
        case 'V':
            printf("%s %s (libpq %d, %s)\n", PROGNAME, ECOM_VERSION, PQlibVersion(), curl_version());
            exit(0);
        case 'h': usage(); exit(0);
        default: config_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        config_usage_error("unexpected argument \"%s\"", argv[optind]);
    conf.d.webhook_url = url_or_null(webhook, "webhook URL");
    conf.d.am_url = url_or_null(am, "Alertmanager URL");
    conf.d.interval_ms = (int64_t)(conf.interval_s * 1000);
    conf.d.timeout_ms = (int)(conf.timeout_s * 1000);
}

int main(int argc, char **argv)
{
    char err[512];
    metrics_t *metrics = NULL;
    alertd_t *ad = NULL;
    httpd_t *httpd = NULL;
    int rc = 1;

    config_start(PROGNAME);
    setenv("PGGSSENCMODE", "disable", 0);
    parse_args(argc, argv);
    if (rules_load(conf.rules_path, &conf.d.rules, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", PROGNAME, err);
        return CONFIG_EXIT_USAGE;
    }
    if (conf.check) {
        for (int i = 0; i < conf.d.rules.n; i++) {
            const rule_t *r = &conf.d.rules.v[i];
            printf("%-24s %-15s threshold %-8g for %llds repeat %llds %s %s\n", r->name, rules_kind_name(r->kind),
                   r->threshold, (long long)(r->for_ms / 1000), (long long)(r->repeat_ms / 1000), r->severity,
                   r->labels);
        }
        return 0;
    }
    term_install();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    if ((metrics = metrics_new("ecom_alerts")) == NULL || (ad = alertd_new(&conf.d, metrics)) == NULL) {
        LOG_ERROR("out of memory");
        goto out;
    }
    if (conf.port > 0) {
        httpd = httpd_start(conf.bind, (int)conf.port, metrics, alertd_health, ad, err, sizeof(err));
        if (httpd == NULL) {
            LOG_ERROR("could not serve HTTP on %s:%d: %s", conf.bind, (int)conf.port, err);
            LOG_INFO("hint: pick another port with -p/--port, or 0 to turn it off");
            goto out;
        }
        LOG_INFO("metrics on http://%s:%d/metrics, health on /health", conf.bind, httpd_port(httpd));
    }
    LOG_INFO("%d rules from %s every %.1f s; notifying the log%s%s", conf.d.rules.n, conf.rules_path,
             conf.interval_s, conf.d.webhook_url != NULL ? ", a webhook" : "",
             conf.d.am_url != NULL ? ", Alertmanager" : "");
    alertd_run(ad);
    if (term_signal())
        LOG_INFO("stopped by signal %d", term_signal());
    rc = 0;
out:
    httpd_stop(httpd);
    alertd_free(ad);
    metrics_destroy(metrics);
    curl_global_cleanup();
    return rc;
}
