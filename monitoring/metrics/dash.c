/*
 * dash.c - the dashboard's files and /api/shop (see dash.h).
 */
#include "dash.h"
#include "js.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (4 << 20)

static const struct {
    const char *key, *sql;
} shop[] = {
    {"categories",
     "SELECT DISTINCT ON (category) category, window_start, window_end, views, add_to_carts, orders, units_sold,"
     " revenue, conversion_rate, is_final FROM category_window_metrics"
     " WHERE window_start > now() - interval '1 day' ORDER BY category, window_start DESC"},
    {"traffic",
     "SELECT window_start, user_events, product_views, add_to_carts, searches, transactions, active_users,"
     " revenue, late_events, anomaly_score, is_anomaly, is_final FROM traffic_window_metrics"
     " WHERE window_start > now() - interval '1 hour' ORDER BY window_start"},
    {"trending",
     "SELECT window_end, category, rank, product_id, views, orders, revenue FROM trending_products"
     " WHERE window_end = (SELECT max(window_end) FROM trending_products) ORDER BY category, rank"},
    {"fraud",
     "SELECT alert_id, detected_at, user_id, rule, severity, transaction_id FROM fraud_alerts"
     " ORDER BY alert_id DESC LIMIT 20"},
    {"stock",
     "SELECT alert_id, detected_at, product_id, warehouse_location, current_stock, threshold, state"
     " FROM inventory_alerts ORDER BY alert_id DESC LIMIT 20"},
    {"batch",
     "SELECT job, period_start, status, rows_written, duration_ms, finished_at FROM batch_runs"
     " ORDER BY run_id DESC LIMIT 10"},
    {"quality",
     "SELECT run_id, period_start, period_end, checks, warned, failed, finished_at FROM data_quality_runs"
     " ORDER BY run_id DESC LIMIT 5"},
    {"dags",
     "SELECT dag_id, run_id, state, run_type, data_interval_start, start_date, end_date FROM dag_runs"
     " ORDER BY queued_at DESC LIMIT 10"},
    {"alerts",
     "SELECT rule, key, summary, active_since, fired_at FROM alert_state WHERE state = 'firing'"
     " ORDER BY fired_at DESC LIMIT 50"},
};

const char *dash_default_web_dir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("ECOM_WEB_DIR");
    char exe[PATH_MAX];
    ssize_t n;
    struct stat st;

    if (env != NULL && env[0] != '\0')
        return env;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        char *slash;

        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            snprintf(dir, sizeof(dir), "%s/../../monitoring/web", exe);
            if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
                return dir;
        }
    }
    return "monitoring/web";
}

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    return "application/octet-stream";
}

/* A plain file name: letters, digits, '.', '-', '_', not starting with '.'. */
static int plain_name(const char *s)
{
    if (s[0] == '\0' || s[0] == '.' || strlen(s) > 128)
        return 0;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static unsigned file(const char *dir, const char *name, buf_t *body, const char **type)
{
    char path[PATH_MAX], chunk[16384];
    size_t n;
    FILE *f;

    if (!plain_name(name) || snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return 0;
    if ((f = fopen(path, "rb")) == NULL)
        return 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && body->len + n <= MAX_FILE)
        buf_append(body, chunk, n);
    fclose(f);
    *type = type_of(name);
    return 200;
}

static void link_value(js_writer_t *w, const char *key, const char *url)
{
    js_key(w, key);
    if (url != NULL)
        js_string(w, url);
    else
        js_null(w);
}

static unsigned shop_json(const dash_conf_t *conf, tsdb_t *db, int timeout_ms, buf_t *body)
{
    char err[256];

    buf_putc(body, '{');
    for (size_t i = 0; i < sizeof(shop) / sizeof(shop[0]); i++) {
        size_t mark;

        buf_printf(body, "%s\"%s\":", i > 0 ? "," : "", shop[i].key);
        mark = body->len;
        if (tsdb_query_json(db, shop[i].sql, 0, NULL, timeout_ms, body, err, sizeof(err)) != 0) {
            buf_truncate(body, mark);
            buf_puts(body, "null");
        }
    }
    buf_puts(body, ",\"links\":");
    js_begin_object(body);
    link_value(body, "kafka_ui", conf->kafka_ui_link);
    link_value(body, "spark_ui", conf->spark_ui_link);
    js_end_object(body);
    buf_putc(body, '}');
    return 200;
}

unsigned dash_route(const dash_conf_t *conf, tsdb_t *db, int timeout_ms, const httpd_req_t *req, buf_t *body,
                    const char **content_type)
{
    const char *path = httpd_req_path(req);

    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        return file(conf->web_dir, "index.html", body, content_type);
    if (strncmp(path, "/static/", 8) == 0)
        return file(conf->web_dir, path + 8, body, content_type);
    if (strncmp(path, "/vendor/", 8) == 0 && conf->vendor_dir != NULL)
        return file(conf->vendor_dir, path + 8, body, content_type);
    if (strcmp(path, "/api/shop") == 0) {
        *content_type = "application/json";
        return shop_json(conf, db, timeout_ms, body);
    }
    return 0;
}
