/*
 * jobs.c - the statements of ecom-batch's aggregate jobs (see jobs.h and
 * the tables' definitions in sql/batch.sql). Every read of a raw table is
 * bounded by event_time on both sides, so PostgreSQL prunes the daily
 * partitions and uses the event_time indexes (README, "ecom-batch plans").
 */
#include "jobs.h"

#include <string.h>

#define LO "current_setting('ecom_batch.lo')::timestamptz"
#define HI "current_setting('ecom_batch.hi')::timestamptz"

static const char hourly_sales_insert[] =
    "INSERT INTO hourly_sales_by_category"
    " (hour, category, orders, units, revenue, avg_order_value, distinct_buyers)"
    " SELECT date_trunc('hour', t.event_time, 'UTC'), coalesce(p.category, 'Unknown'),"
    "        count(DISTINCT t.transaction_id), coalesce(sum(i.quantity), 0),"
    "        coalesce(sum(i.item_total), 0),"
    "        round(coalesce(sum(i.item_total), 0) / count(DISTINCT t.transaction_id), 2),"
    "        count(DISTINCT t.user_id)"
    "   FROM transactions t"
    "   JOIN transaction_items i ON i.transaction_id = t.transaction_id AND i.event_time = t.event_time"
    "   LEFT JOIN products p ON p.product_id = i.product_id"
    "  WHERE t.event_time >= $1::timestamptz AND t.event_time < $2::timestamptz"
    "    AND i.event_time >= $1::timestamptz AND i.event_time < $2::timestamptz"
    "  GROUP BY 1, 2";

/* New users: active that day, with no user event and no transaction
 * before it (index probes on (user_id, event_time) per active user). */
static const char daily_engagement_insert[] =
    "WITH ev AS ("
    "  SELECT user_id, session_id, event_type FROM user_events"
    "   WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz),"
    " tx AS ("
    "  SELECT user_id FROM transactions"
    "   WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz),"
    " active AS ("
    "  SELECT user_id FROM ev WHERE user_id IS NOT NULL"
    "  UNION SELECT user_id FROM tx WHERE user_id IS NOT NULL),"
    " fresh AS ("
    "  SELECT count(*) AS n FROM active a"
    "   WHERE NOT EXISTS (SELECT 1 FROM user_events e"
    "                      WHERE e.user_id = a.user_id AND e.event_time < $1::timestamptz)"
    "     AND NOT EXISTS (SELECT 1 FROM transactions t"
    "                      WHERE t.user_id = a.user_id AND t.event_time < $1::timestamptz)),"
    " e AS ("
    "  SELECT count(*) AS events, count(DISTINCT session_id) AS sessions,"
    "         count(*) FILTER (WHERE event_type = 'product_view') AS views,"
    "         count(*) FILTER (WHERE event_type = 'add_to_cart') AS carts,"
    "         count(*) FILTER (WHERE event_type = 'search') AS searches"
    "    FROM ev)"
    " INSERT INTO daily_user_engagement"
    " (day, active_users, new_users, returning_users, sessions, events, events_per_session,"
    "  product_views, add_to_carts, searches, purchases, view_to_cart_rate, cart_to_purchase_rate)"
    " SELECT ($1::timestamptz AT TIME ZONE 'UTC')::date, a.n, f.n, a.n - f.n, e.sessions, e.events,"
    "        round(e.events::numeric / nullif(e.sessions, 0), 2),"
    "        e.views, e.carts, e.searches, p.n,"
    "        round(e.carts::numeric / nullif(e.views, 0), 4),"
    "        round(p.n::numeric / nullif(e.carts, 0), 4)"
    "   FROM e, fresh f,"
    "        (SELECT count(*) AS n FROM active) a,"
    "        (SELECT count(*) AS n FROM tx) p";

/* The level before the week: each pair's last update before it (one
 * backward index probe per pair); the pairs: the catalog's and any the
 * week's updates name. Segments end at the next update, or at the week's
 * end (now for a week not over). */
static const char weekly_turnover_insert[] =
    "WITH upd AS ("
    "  SELECT event_id, product_id, warehouse_location AS wh, event_time, current_stock, stock_change"
    "    FROM inventory_updates"
    "   WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz"
    "     AND product_id IS NOT NULL AND warehouse_location IS NOT NULL"
    "     AND current_stock IS NOT NULL),"
    " pairs AS ("
    "  SELECT product_id, wh FROM upd"
    "  UNION SELECT product_id, warehouse_location FROM product_stock),"
    " prior AS ("
    "  SELECT p.product_id, p.wh, l.current_stock FROM pairs p"
    "   CROSS JOIN LATERAL ("
    "     SELECT u.current_stock FROM inventory_updates u"
    "      WHERE u.product_id = p.product_id AND u.warehouse_location = p.wh"
    "        AND u.event_time < $1::timestamptz AND u.current_stock IS NOT NULL"
    "      ORDER BY u.event_time DESC, u.event_id DESC LIMIT 1) l),"
    " pts AS ("
    "  SELECT product_id, wh, $1::timestamptz AS t, NULL::uuid AS id, current_stock FROM prior"
    "  UNION ALL SELECT product_id, wh, event_time, event_id, current_stock FROM upd),"
    " seg AS ("
    "  SELECT product_id, wh, current_stock,"
    "         extract(epoch FROM greatest(lead(t, 1, least($2::timestamptz, greatest(now(), $1::timestamptz)))"
    "                 OVER (PARTITION BY product_id, wh ORDER BY t, id NULLS FIRST), t) - t) AS secs"
    "    FROM pts),"
    " lvl AS ("
    "  SELECT product_id, wh, sum(current_stock * secs) AS stock_secs, sum(secs) AS secs"
    "    FROM seg GROUP BY 1, 2),"
    " sold AS ("
    "  SELECT product_id, wh, count(*) AS updates,"
    "         coalesce(sum(-stock_change) FILTER (WHERE stock_change < 0), 0) AS units,"
    "         count(*) FILTER (WHERE current_stock <= 0) AS outs"
    "    FROM upd GROUP BY 1, 2),"
    " r AS ("
    "  SELECT l.product_id, l.wh, coalesce(s.updates, 0) AS updates, coalesce(s.units, 0) AS units,"
    "         coalesce(s.outs, 0) AS outs,"
    "         CASE WHEN l.secs > 0 THEN l.stock_secs / l.secs END AS avg_stock, l.secs"
    "    FROM lvl l LEFT JOIN sold s USING (product_id, wh))"
    " INSERT INTO weekly_inventory_turnover"
    " (week_start, product_id, warehouse_location, updates, units_sold, avg_stock, turnover_ratio,"
    "  days_of_cover, stock_outs)"
    " SELECT ($1::timestamptz AT TIME ZONE 'UTC')::date, product_id, wh, updates, units,"
    "        round(coalesce(avg_stock, 0), 2),"
    "        round(units / nullif(avg_stock, 0), 4),"
    "        round(avg_stock / nullif(units / nullif(secs / 86400.0, 0), 0), 2),"
    "        outs"
    "   FROM r";

/* Cohort sizes count the users whose first transaction falls in each
 * month up to this one (an index-only scan of transactions_user_id_idx). */
static const char monthly_cohorts_insert[] =
    "WITH buyers AS ("
    "  SELECT user_id, coalesce(sum(total_amount), 0) AS revenue FROM transactions"
    "   WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND user_id IS NOT NULL"
    "   GROUP BY user_id),"
    " firsts AS ("
    "  SELECT user_id, date_trunc('month', min(event_time), 'UTC') AS cohort FROM transactions"
    "   WHERE event_time < $2::timestamptz AND user_id IS NOT NULL GROUP BY user_id),"
    " sizes AS (SELECT cohort, count(*) AS n FROM firsts GROUP BY cohort),"
    " m AS (SELECT date_trunc('month', $1::timestamptz, 'UTC') AS month)"
    " INSERT INTO monthly_cohort_retention"
    " (cohort_month, months_since, activity_month, cohort_size, active_buyers, retention_rate, revenue)"
    " SELECT (f.cohort AT TIME ZONE 'UTC')::date,"
    "        ((extract(year FROM m.month AT TIME ZONE 'UTC') - extract(year FROM f.cohort AT TIME ZONE 'UTC')) * 12"
    "         + extract(month FROM m.month AT TIME ZONE 'UTC') - extract(month FROM f.cohort AT TIME ZONE 'UTC'))::integer,"
    "        (m.month AT TIME ZONE 'UTC')::date, s.n, count(*), round(count(*)::numeric / s.n, 4),"
    "        sum(b.revenue)"
    "   FROM buyers b JOIN firsts f USING (user_id) JOIN sizes s USING (cohort), m"
    "  GROUP BY f.cohort, s.n, m.month";

const job_t jobs[] = {
    {"hourly-sales", PERIOD_HOUR, "hourly_sales_by_category",
     "per hour and category: orders, units, revenue, average order value, buyers",
     "DELETE FROM hourly_sales_by_category WHERE hour >= $1::timestamptz AND hour < $2::timestamptz",
     hourly_sales_insert,
     "SELECT hour, category, orders, units, revenue, avg_order_value, distinct_buyers"
     "  FROM hourly_sales_by_category WHERE hour >= " LO " AND hour < " HI
     " ORDER BY hour, category"},
    {"daily-engagement", PERIOD_DAY, "daily_user_engagement",
     "per day: active, new and returning users, sessions, funnel counts and rates",
     "DELETE FROM daily_user_engagement"
     " WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date",
     daily_engagement_insert,
     "SELECT day, active_users, new_users, returning_users, sessions, events, events_per_session,"
     "       product_views, add_to_carts, searches, purchases, view_to_cart_rate, cart_to_purchase_rate"
     "  FROM daily_user_engagement"
     " WHERE day >= (" LO " AT TIME ZONE 'UTC')::date AND day < (" HI " AT TIME ZONE 'UTC')::date"
     " ORDER BY day"},
    {"weekly-inventory-turnover", PERIOD_WEEK, "weekly_inventory_turnover",
     "per ISO week, product and warehouse: units sold, average stock, turnover, cover, stock-outs",
     "DELETE FROM weekly_inventory_turnover"
     " WHERE week_start >= ($1::timestamptz AT TIME ZONE 'UTC')::date"
     "   AND week_start < ($2::timestamptz AT TIME ZONE 'UTC')::date",
     weekly_turnover_insert,
     "SELECT week_start, product_id, warehouse_location, updates, units_sold, avg_stock,"
     "       turnover_ratio, days_of_cover, stock_outs"
     "  FROM weekly_inventory_turnover"
     " WHERE week_start >= (" LO " AT TIME ZONE 'UTC')::date AND week_start < (" HI " AT TIME ZONE 'UTC')::date"
     " ORDER BY week_start, product_id, warehouse_location"},
    {"monthly-cohorts", PERIOD_MONTH, "monthly_cohort_retention",
     "per first-purchase cohort and month since: buyers, retention rate, revenue",
     "DELETE FROM monthly_cohort_retention"
     " WHERE activity_month >= ($1::timestamptz AT TIME ZONE 'UTC')::date"
     "   AND activity_month < ($2::timestamptz AT TIME ZONE 'UTC')::date",
     monthly_cohorts_insert,
     "SELECT cohort_month, months_since, activity_month, cohort_size, active_buyers, retention_rate, revenue"
     "  FROM monthly_cohort_retention"
     " WHERE activity_month >= (" LO " AT TIME ZONE 'UTC')::date"
     "   AND activity_month < (" HI " AT TIME ZONE 'UTC')::date"
     " ORDER BY cohort_month, months_since"},
    {JOB_ARCHIVE_RAW, PERIOD_HOUR, "",
     "an hour of each raw table as gzipped JSON lines under raw/; --drop-before DATE", NULL, NULL,
     NULL},
    {NULL, PERIOD_HOUR, NULL, NULL, NULL, NULL, NULL},
};

const job_t *job_find(const char *name)
{
    for (const job_t *j = jobs; j->name != NULL; j++)
        if (strcmp(j->name, name) == 0)
            return j;
    return NULL;
}
