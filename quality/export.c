/*
 * export.c - --export-clean (see export.h).
 */
#include "export.h"
#include "db.h"
#include "elog.h"
#include "lakecopy.h"
#include "period.h"
#include "ts.h"

#include <stdio.h>

#define LO "current_setting('ecom_quality.lo')::timestamptz"
#define HI "current_setting('ecom_quality.hi')::timestamptz"

static const struct {
    const char *topic;
    const char *select;
} clean[] = {
    {"user-events",
     "SELECT * FROM user_events e WHERE e.event_time >= " LO " AND e.event_time < " HI
     "   AND e.user_id IS NOT NULL AND e.session_id IS NOT NULL"
     "   AND NOT (e.event_type IN ('product_view', 'add_to_cart') AND (e.product_id IS NULL OR e.price IS NULL))"
     "   AND NOT (e.event_type = 'search' AND e.search_query IS NULL)"
     "   AND NOT EXISTS (SELECT 1 FROM user_events p WHERE p.user_id = e.user_id"
     "         AND p.event_type = e.event_type AND p.product_id IS NOT DISTINCT FROM e.product_id"
     "         AND p.event_time >= e.event_time - interval '1 second' AND p.event_time <= e.event_time"
     "         AND (p.event_time, p.event_id) < (e.event_time, e.event_id))"
     " ORDER BY e.event_time, e.event_id"},
    {"transactions",
     "SELECT t.*, " LAKECOPY_TXN_ITEMS " AS items"
     " FROM transactions t WHERE t.event_time >= " LO " AND t.event_time < " HI
     "   AND t.user_id IS NOT NULL AND t.total_amount IS NOT NULL AND t.payment_method IS NOT NULL"
     "   AND coalesce(t.item_count, 0) > 0"
     " ORDER BY t.event_time, t.transaction_id"},
    {"inventory-updates",
     "SELECT * FROM inventory_updates WHERE event_time >= " LO " AND event_time < " HI
     "   AND product_id IS NOT NULL AND warehouse_location IS NOT NULL"
     "   AND current_stock IS NOT NULL AND stock_change IS NOT NULL"
     " ORDER BY event_time, event_id"},
};

int export_clean(PGconn *conn, int64_t lo, int64_t hi, const char *lake_root, int gzip_level,
                 long long *rows)
{
    char slo[TS_RFC3339_LEN], shi[TS_RFC3339_LEN], label[PERIOD_LABEL_LEN], rel[256], err[512];
    const char *params[2] = {slo, shi};
    int files = 0;

    *rows = 0;
    for (int64_t h = period_floor(PERIOD_HOUR, lo); h < hi; h += PERIOD_HOUR_MS) {
        PGresult *res;

        ts_format_rfc3339(h, slo);
        ts_format_rfc3339(h + PERIOD_HOUR_MS, shi);
        period_label(PERIOD_HOUR, h, label);
        if (db_run_cmd(conn, "could not start the export", "BEGIN ISOLATION LEVEL REPEATABLE READ") != 0)
            return -1;
        res = db_run(conn, "could not set the hour",
                     "SELECT set_config('ecom_quality.lo', $1, true), set_config('ecom_quality.hi', $2, true)",
                     2, params, PGRES_TUPLES_OK);
        if (res == NULL)
            goto fail;
        PQclear(res);
        for (size_t t = 0; t < sizeof(clean) / sizeof(clean[0]); t++) {
            long long n = 0;
            int64_t bytes = 0;

            snprintf(rel, sizeof(rel), "processed/%s/dt=%.10s/hr=%.2s.jsonl.gz", clean[t].topic, label,
                     label + 11);
            if (lakecopy_json(conn, clean[t].select, lake_root, rel, gzip_level, &n, &bytes, err,
                              sizeof(err)) != 0) {
                LOG_ERROR("--export-clean: %s", err);
                goto fail;
            }
            *rows += n;
            files++;
        }
        if (db_run_cmd(conn, "could not end the export", "COMMIT") != 0)
            goto fail;
    }
    return files;
fail:
    db_recover(conn);
    return -1;
}
