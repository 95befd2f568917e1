/*
 * analytics.c - the analytics settings, their flags, the new_* tables and
 * the call into windows.c and alerts.c (see analytics.h).
 */
#include "analytics.h"
#include "config.h"
#include "elog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum {
    OPT_NO_ANALYTICS = ANALYTICS_OPT_FIRST,
    OPT_WINDOW,
    OPT_LATENESS,
    OPT_IDLE_TIMEOUT,
    OPT_ANOMALY_WINDOWS,
    OPT_ANOMALY_Z,
    OPT_TRENDING_N,
    OPT_TRENDING_SPAN,
    OPT_VELOCITY_COUNT,
    OPT_VELOCITY_WINDOW,
    OPT_HIGH_VALUE,
    OPT_MAX_QUANTITY,
    OPT_LOW_STOCK,
};

const struct option analytics_options[] = {
    {"no-analytics", no_argument, NULL, OPT_NO_ANALYTICS},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"lateness", required_argument, NULL, OPT_LATENESS},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"anomaly-windows", required_argument, NULL, OPT_ANOMALY_WINDOWS},
    {"anomaly-z", required_argument, NULL, OPT_ANOMALY_Z},
    {"trending-n", required_argument, NULL, OPT_TRENDING_N},
    {"trending-span", required_argument, NULL, OPT_TRENDING_SPAN},
    {"fraud-velocity-count", required_argument, NULL, OPT_VELOCITY_COUNT},
    {"fraud-velocity-window", required_argument, NULL, OPT_VELOCITY_WINDOW},
    {"fraud-high-value", required_argument, NULL, OPT_HIGH_VALUE},
    {"fraud-max-quantity", required_argument, NULL, OPT_MAX_QUANTITY},
    {"low-stock-threshold", required_argument, NULL, OPT_LOW_STOCK},
    {NULL, 0, NULL, 0},
};

analytics_conf_t analytics_conf_default(void)
{
    analytics_conf_t c = {.enabled = 1, .evtime = EVTIME_CONF_DEFAULTS};

    c.windows = windows_conf_default();
    c.alerts = alerts_conf_default();
    return c;
}

/* SECONDS (fractions allowed) as milliseconds. */
static int64_t flag_ms(const char *arg, double min_s, double max_s, const char *name)
{
    return (int64_t)llround(config_flag_double(arg, min_s, max_s, name) * 1000.0);
}

int analytics_parse_option(analytics_conf_t *c, int id, const char *arg)
{
    switch (id) {
    case OPT_NO_ANALYTICS: c->enabled = 0; break;
    case OPT_WINDOW:
        c->evtime.window_ms = c->windows.window_ms = flag_ms(arg, 0.001, 86400, "--window");
        break;
    case OPT_LATENESS: c->evtime.lateness_ms = flag_ms(arg, 0, 86400, "--lateness"); break;
    case OPT_IDLE_TIMEOUT: c->evtime.idle_ms = flag_ms(arg, 0.001, 86400, "--idle-timeout"); break;
    case OPT_ANOMALY_WINDOWS:
        c->windows.anomaly_windows = (int)config_flag_int64(arg, 2, WINDOWS_ANOMALY_MAX, "--anomaly-windows");
        break;
    case OPT_ANOMALY_Z: c->windows.anomaly_z = config_flag_double(arg, 0.001, 1e6, "--anomaly-z"); break;
    case OPT_TRENDING_N:
        c->windows.trending_n = (int)config_flag_int64(arg, 1, WINDOWS_TRENDING_MAX, "--trending-n");
        break;
    case OPT_TRENDING_SPAN:
        c->windows.trending_span_ms = flag_ms(arg, 0.001, 31536000, "--trending-span");
        break;
    case OPT_VELOCITY_COUNT:
        c->alerts.velocity_count = (int)config_flag_int64(arg, 1, 1000000, "--fraud-velocity-count");
        break;
    case OPT_VELOCITY_WINDOW:
        c->alerts.velocity_window_ms = flag_ms(arg, 0.001, 86400, "--fraud-velocity-window");
        break;
    case OPT_HIGH_VALUE:
        c->alerts.high_value_cents = (int64_t)llround(config_flag_double(arg, 0, 1e13, "--fraud-high-value") * 100.0);
        break;
    case OPT_MAX_QUANTITY:
        c->alerts.max_quantity = (int)config_flag_int64(arg, 0, 100000000, "--fraud-max-quantity");
        break;
    case OPT_LOW_STOCK:
        c->alerts.low_stock = (int)config_flag_int64(arg, 0, 1000000000, "--low-stock-threshold");
        break;
    default: return 0;
    }
    return 1;
}

int analytics_conf_check(const analytics_conf_t *c, char *err, size_t size)
{
    if (!c->enabled)
        return 0;
    if (c->windows.trending_span_ms < c->windows.window_ms) {
        snprintf(err, size, "invalid value for option --trending-span: shorter than --window");
        return -1;
    }
    if (windows_conf_check(&c->windows, err, size) != 0 || alerts_conf_check(&c->alerts, err, size) != 0)
        return -1;
    return 0;
}

void analytics_usage(void)
{
    printf("Analytics (event time; see README):\n"
           "      --no-analytics         store raw rows and offsets only\n"
           "      --window=SECONDS       tumbling window length, epoch-aligned (default: 30)\n"
           "      --lateness=SECONDS     allowed lateness per partition (default: 10)\n"
           "      --idle-timeout=SECONDS a caught-up partition quiet this long stops holding the\n"
           "                             watermark back (default: 5)\n"
           "      --anomaly-windows=N    trailing windows of the traffic z-score (default: 20)\n"
           "      --anomaly-z=Z          |z| above Z is an anomaly (default: 3)\n"
           "      --trending-n=N         trending products per category (default: 5)\n"
           "      --trending-span=SECONDS  sliding span of the trending ranking (default: 300)\n"
           "      --fraud-velocity-count=N  flag a user's transactions beyond N within the\n"
           "                             velocity window (default: 5)\n"
           "      --fraud-velocity-window=SECONDS  (default: 60)\n"
           "      --fraud-high-value=AMOUNT  flag totals above AMOUNT (default: 5000.00)\n"
           "      --fraud-max-quantity=N flag a line with a quantity above N (default: 10)\n"
           "      --low-stock-threshold=N  stock below N is low, unless inventory_thresholds has\n"
           "                             the product (default: 20)\n\n");
}

#define NEW_TABLE(t) "CREATE TEMP TABLE IF NOT EXISTS new_" t " (LIKE " t ") ON COMMIT DELETE ROWS"

/* The groups of preagg.h, with the raw table's column types. */
#define GROUPS_TABLE(t, cols)                                                  \
    "CREATE TEMP TABLE IF NOT EXISTS " t " ON COMMIT DELETE ROWS AS SELECT " cols \
    " FROM user_events WITH NO DATA"

const char *const analytics_session_sql[] = {
    NEW_TABLE("user_events"), NEW_TABLE("transactions"), NEW_TABLE("transaction_items"),
    NEW_TABLE("inventory_updates"),
    GROUPS_TABLE("new_user_event_groups",
                 "event_time AS window_start, late, event_type, product_id, product_name, category, "
                 "0::bigint AS events, event_time AS last_time, price"),
    GROUPS_TABLE("new_user_sessions", "event_time AS window_start, user_id, session_id"), NULL};

int analytics_apply(PGconn *conn, const analytics_conf_t *conf, const char *consumer_group,
                    int partitions, analytics_result_t *res, PGresult **error)
{
    memset(res, 0, sizeof(*res));
    if (error != NULL)
        *error = NULL;
    if (!conf->enabled)
        return 0;
    if (windows_apply(conn, &conf->windows, consumer_group, partitions, &res->windows, error) != 0)
        return -1;
    return alerts_apply(conn, &conf->alerts, &res->alerts);
}

void analytics_result_add(analytics_result_t *total, const analytics_result_t *r)
{
    windows_result_add(&total->windows, &r->windows);
    alerts_result_add(&total->alerts, &r->alerts);
}
