/*
 * dash.h - the dashboard ecom-metrics serves: its page and scripts
 * (monitoring/web/), the vendored charting library (scripts/web-vendor.sh),
 * and GET /api/shop, what the shop is doing now, read from PostgreSQL:
 *   {"categories": the newest window per category (category_window_metrics),
 *    "traffic": the last hour of traffic windows, "trending": the newest
 *    trending products, "fraud" and "stock": the newest alerts ecom-stream
 *    wrote, "batch": ecom-batch runs, "quality": ecom-quality runs,
 *    "dags": ecom-scheduler's runs, "alerts": ecom-alerts' firing alerts,
 *    "links": the Kafka UI and Spark UI to link to (null: none)}
 * A section whose query fails is null (the page says so). Files are served
 * only by plain names from the two directories, never paths.
 */
#ifndef ECOM_DASH_H
#define ECOM_DASH_H

#include "buf.h"
#include "httpd.h"
#include "tsdb.h"

typedef struct {
    const char *web_dir;
    const char *vendor_dir;
    const char *kafka_ui_link; /* NULL: none */
    const char *spark_ui_link;
} dash_conf_t;

/* Answers /, /static/NAME, /vendor/NAME and /api/shop (0 for other paths). */
unsigned dash_route(const dash_conf_t *conf, tsdb_t *db, int timeout_ms, const httpd_req_t *req, buf_t *body,
                    const char **content_type);

/* The default web directory: $ECOM_WEB_DIR, else monitoring/web of the
 * checkout the executable was built in (../../monitoring/web beside
 * build/bin/), else ./monitoring/web. Returns a static string. */
const char *dash_default_web_dir(void);

#endif
