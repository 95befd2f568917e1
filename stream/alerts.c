/*
 * alerts.c - ecom-stream's fraud rules and inventory state (see alerts.h).
 *
 * Owns two statements, run in the caller's flush transaction: the fraud
 * rules (one INSERT into fraud_alerts for all four rules) and the
 * inventory levels and alerts (one statement upserting inventory_levels
 * and inserting inventory_alerts). Both read the session's new_* temporary
 * tables, which the caller fills; this file creates no objects (the
 * tables are sql/alerts.sql's) and keeps no state between calls.
 */
#include "alerts.h"
#include "db.h"
#include "ts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rule_names[ALERTS_RULES] = {
    [ALERTS_VELOCITY] = "velocity",
    [ALERTS_HIGH_VALUE] = "high_value",
    [ALERTS_AMOUNT_MISMATCH] = "amount_mismatch",
    [ALERTS_QUANTITY_SPIKE] = "quantity_spike",
};

static const char *const state_names[ALERTS_STATES] = {
    [ALERTS_LOW] = "low",
    [ALERTS_RESTORED] = "restored",
};

/* UTC text with milliseconds, as ts_format_rfc3339() writes it. */
#define UTC_MS(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/*
 * The fraud rules. $1 velocity_count, $2 velocity_window_ms,
 * $3 high_value_cents, $4 max_quantity.
 *
 * velocity: one index scan of transactions_user_id_idx per new
 * transaction n (stored already, like every new one) reads the user's
 * transactions within the window either side of it: those before it
 * give its count, and any after it that was stored by an earlier batch
 * (a late n) is counted again with a scan of its own, since n may push it
 * over the limit. First-time counts of the new ones need no second scan.
 * Whether such earlier-stored ones exist is the count after n less the
 * new ones after n (a window function over new_transactions, nw), so a
 * batch holding a user's transactions in order scans no second time: it
 * had (later rows being the batch's own), which cost a third of the
 * statement at --max-rate.
 * Measured against one scan per user of the span of its new transactions
 * and window functions over it (same alerts), on --max-rate data (every
 * user dozens of transactions a minute), jit off: faster for batches of
 * the latest transactions up to about a thousand (100: 11 against 42 ms;
 * 1,000: 59 against 156 ms), the flushes of the benchmarks; slower beyond
 * (5,000: 267 against 235 ms) and for a batch in the middle of stored ones
 * (1,000: 676 against 181 ms), since k new transactions of one user cost
 * k scans.
 * A velocity alert already stored takes the new details when its count
 * grew; other rules' alerts are never changed. DISTINCT ON keeps one row
 * per (transaction_id, rule) (two raw rows may share a transaction_id),
 * which ON CONFLICT DO UPDATE requires. RETURNING (xmax = 0) tells an
 * insert from an update.
 */
static const char fraud_sql[] =
    "WITH nw AS ("
    "  SELECT n.transaction_id, n.user_id, n.event_time,"
    "         count(*) OVER f - count(*) OVER q AS new_after"
    "    FROM new_transactions n"
    "   WHERE n.user_id IS NOT NULL"
    "  WINDOW f AS (PARTITION BY n.user_id ORDER BY n.event_time"
    "               RANGE BETWEEN CURRENT ROW AND $2::bigint * interval '1 millisecond' FOLLOWING),"
    "         q AS (PARTITION BY n.user_id, n.event_time ORDER BY n.transaction_id)"
    "), probe AS ("
    "  SELECT n.transaction_id, n.user_id, n.event_time, w.n, w.first_time,"
    "         w.after > n.new_after AS later"
    "    FROM nw n"
    "    CROSS JOIN LATERAL ("
    "      SELECT count(*) FILTER (WHERE u.event_time < n.event_time"
    "                OR (u.event_time = n.event_time AND u.transaction_id <= n.transaction_id)) AS n,"
    "             min(u.event_time) AS first_time,"
    "             count(*) FILTER (WHERE u.event_time > n.event_time"
    "                OR (u.event_time = n.event_time AND u.transaction_id > n.transaction_id)) AS after"
    "        FROM transactions u"
    "       WHERE u.user_id = n.user_id"
    "         AND u.event_time >= n.event_time - $2::bigint * interval '1 millisecond'"
    "         AND u.event_time <= n.event_time + $2::bigint * interval '1 millisecond') w"
    "), later AS ("
    "  SELECT DISTINCT t.transaction_id, t.user_id, t.event_time"
    "    FROM probe p"
    "    CROSS JOIN LATERAL ("
    "      SELECT t.transaction_id, t.user_id, t.event_time FROM transactions t"
    "       WHERE t.user_id = p.user_id"
    "         AND t.event_time >= p.event_time"
    "         AND t.event_time <= p.event_time + $2::bigint * interval '1 millisecond'"
    "         AND (t.event_time > p.event_time OR t.transaction_id > p.transaction_id)"
    "      OFFSET 0) t"
    "   WHERE p.later"
    "     AND NOT EXISTS (SELECT 1 FROM new_transactions x"
    "                      WHERE x.transaction_id = t.transaction_id AND x.event_time = t.event_time)"
    "), counted AS ("
    "  SELECT transaction_id, user_id, event_time, n, first_time FROM probe"
    "  UNION ALL"
    "  SELECT l.transaction_id, l.user_id, l.event_time, w.n, w.first_time"
    "    FROM later l"
    "    CROSS JOIN LATERAL ("
    "      SELECT count(*) AS n, min(u.event_time) AS first_time FROM transactions u"
    "       WHERE u.user_id = l.user_id"
    "         AND u.event_time >= l.event_time - $2::bigint * interval '1 millisecond'"
    "         AND u.event_time <= l.event_time"
    "         AND (u.event_time < l.event_time OR u.transaction_id <= l.transaction_id)) w"
    "), velocity AS ("
    "  SELECT c.transaction_id, c.user_id, c.event_time, 'velocity'::text AS rule,"
    "         'high'::text AS severity,"
    "         jsonb_build_object('count', c.n, 'max_count', $1::integer,"
    "           'window_seconds', trim_scale($2::bigint / 1000.0),"
    "           'first_event_time', " UTC_MS("c.first_time") ","
    "           'span_seconds', trim_scale(extract(epoch FROM c.event_time - c.first_time))) AS details"
    "    FROM counted c"
    "   WHERE c.n > $1::integer"
    "), high_value AS ("
    "  SELECT n.transaction_id, n.user_id, n.event_time, 'high_value'::text, 'medium'::text,"
    "         jsonb_build_object('total_amount', n.total_amount,"
    "           'threshold', round($3::bigint / 100.0, 2))"
    "    FROM new_transactions n"
    "   WHERE n.total_amount > $3::bigint / 100.0"
    "), mismatch AS ("
    "  SELECT n.transaction_id, n.user_id, n.event_time, 'amount_mismatch'::text, 'high'::text,"
    "         jsonb_build_object('total_amount', n.total_amount, 'items_total', i.total,"
    "           'tax_amount', n.tax_amount, 'shipping_cost', n.shipping_cost,"
    "           'expected_total', i.total + n.tax_amount + n.shipping_cost,"
    "           'difference', n.total_amount - (i.total + n.tax_amount + n.shipping_cost))"
    "    FROM new_transactions n"
    "    LEFT JOIN ("
    "      SELECT it.transaction_id, it.event_time, sum(it.item_total) AS items"
    "        FROM new_transaction_items it GROUP BY it.transaction_id, it.event_time) s"
    "      USING (transaction_id, event_time)"
    "    CROSS JOIN LATERAL (SELECT coalesce(s.items, 0) AS total) i"
    "   WHERE NOT n.totals_match"
    "), spike AS ("
    "  SELECT n.transaction_id, n.user_id, n.event_time, 'quantity_spike'::text, 'low'::text,"
    "         jsonb_build_object('threshold', $4::integer, 'max_quantity', s.max_quantity,"
    "           'lines', s.lines)"
    "    FROM ("
    "      SELECT it.transaction_id, it.event_time, max(it.quantity) AS max_quantity,"
    "             jsonb_agg(jsonb_build_object('line_no', it.line_no, 'product_id', it.product_id,"
    "                                          'quantity', it.quantity) ORDER BY it.line_no) AS lines"
    "        FROM new_transaction_items it"
    "       WHERE it.quantity > $4::integer"
    "       GROUP BY it.transaction_id, it.event_time) s"
    "    JOIN new_transactions n USING (transaction_id, event_time)"
    "), fired AS ("
    "  SELECT DISTINCT ON (transaction_id, rule) *"
    "    FROM (SELECT * FROM velocity UNION ALL SELECT * FROM high_value"
    "          UNION ALL SELECT * FROM mismatch UNION ALL SELECT * FROM spike) a"
    "   ORDER BY transaction_id, rule, event_time"
    "), ins AS ("
    "  INSERT INTO fraud_alerts AS f (transaction_id, user_id, rule, severity, details, event_time)"
    "  SELECT transaction_id, user_id, rule, severity, details, event_time FROM fired"
    "   ORDER BY event_time, transaction_id, rule"
    "  ON CONFLICT (transaction_id, rule) DO UPDATE"
    "     SET details = EXCLUDED.details, updated_at = now()"
    "   WHERE f.rule = 'velocity'"
    "     AND (f.details->>'count')::bigint < (EXCLUDED.details->>'count')::bigint"
    "  RETURNING f.rule, f.xmax = 0 AS fresh"
    ")"
    " SELECT rule, count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh)"
    "   FROM ins GROUP BY rule";

/* INV_ARRIVAL: the order in which a batch's updates arrived (partition,
 * offset; then event time and id, for rows without an offset).
 * INV_KEY: an update's order key (event_time, kafka_partition,
 * kafka_offset) for a row comparison. A missing partition or offset
 * counts as -1 in both. */
#define INV_ARRIVAL(t)                                                         \
    "coalesce(" t ".kafka_partition, -1), coalesce(" t ".kafka_offset, -1), " t ".event_time, "  \
    t ".event_id"
#define INV_KEY(t)                                                             \
    "(" t ".event_time, coalesce(" t ".kafka_partition, -1), coalesce(" t ".kafka_offset, -1))"

/*
 * The inventory levels and alerts. $1 low_stock (the default threshold).
 *
 * u: the new updates with the latest event time of the earlier arrivals
 * of their (product, warehouse) in the batch, arrival order being
 * (kafka_partition, kafka_offset). An earlier arrival has a smaller
 * (partition, offset), so an update's key is above all of theirs exactly
 * when its event time is at or after the latest of theirs: a plain
 * running max() decides. cur: the updates that become the current level
 * (that, and above the stored level's key); st: each one's state and the
 * state and stock before it (the previous current one, or the stored
 * level). The last one of a key is the new level; each change of state is
 * an alert. The level's WHERE keeps it from ever moving back.
 */
static const char inventory_sql[] =
    "WITH u AS ("
    "  SELECT n.event_id, n.product_id, n.warehouse_location, n.current_stock, n.event_time,"
    "         n.kafka_partition, n.kafka_offset,"
    "         max(n.event_time) OVER (PARTITION BY n.product_id, n.warehouse_location"
    "                                 ORDER BY " INV_ARRIVAL("n")
    "                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max"
    "    FROM new_inventory_updates n"
    "   WHERE n.product_id IS NOT NULL AND n.warehouse_location IS NOT NULL"
    "     AND n.current_stock IS NOT NULL"
    "), cur AS ("
    "  SELECT u.event_id, u.product_id, u.warehouse_location, u.current_stock, u.event_time,"
    "         u.kafka_partition, u.kafka_offset,"
    "         coalesce(t.threshold, $1::integer) AS threshold,"
    "         l.current_stock AS stored_stock, coalesce(l.stock_state = 'low', false) AS stored_low"
    "    FROM u"
    "    LEFT JOIN inventory_levels l"
    "      ON l.product_id = u.product_id AND l.warehouse_location = u.warehouse_location"
    "    LEFT JOIN inventory_thresholds t ON t.product_id = u.product_id"
    "   WHERE (u.prev_max IS NULL OR u.event_time >= u.prev_max)"
    "     AND (l.product_id IS NULL OR " INV_KEY("u") " > " INV_KEY("l") ")"
    "), st AS ("
    "  SELECT c.*, c.current_stock < c.threshold AS low,"
    "         coalesce(lag(c.current_stock < c.threshold) OVER w, c.stored_low) AS was_low,"
    "         coalesce(lag(c.current_stock) OVER w, c.stored_stock) AS previous_stock,"
    "         lead(c.event_id) OVER w IS NULL AS last"
    "    FROM cur c"
    "  WINDOW w AS (PARTITION BY c.product_id, c.warehouse_location ORDER BY " INV_ARRIVAL("c") ")"
    "), lvl AS ("
    "  INSERT INTO inventory_levels AS l (product_id, warehouse_location, current_stock,"
    "         updated_at, event_time, event_id, kafka_partition, kafka_offset, stock_state)"
    "  SELECT product_id, warehouse_location, current_stock, now(), event_time, event_id,"
    "         kafka_partition, kafka_offset, CASE WHEN low THEN 'low' ELSE 'ok' END"
    "    FROM st WHERE last"
    "  ON CONFLICT (product_id, warehouse_location) DO UPDATE"
    "     SET current_stock = EXCLUDED.current_stock, updated_at = EXCLUDED.updated_at,"
    "         event_time = EXCLUDED.event_time, event_id = EXCLUDED.event_id,"
    "         kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset,"
    "         stock_state = EXCLUDED.stock_state"
    "   WHERE " INV_KEY("EXCLUDED") " > " INV_KEY("l")
    "  RETURNING 1"
    "), al AS ("
    "  INSERT INTO inventory_alerts (product_id, warehouse_location, current_stock,"
    "         previous_stock, threshold, state, event_time, event_id, kafka_partition,"
    "         kafka_offset)"
    "  SELECT product_id, warehouse_location, current_stock, previous_stock, threshold,"
    "         CASE WHEN low THEN 'low' ELSE 'restored' END, event_time, event_id,"
    "         kafka_partition, kafka_offset"
    "    FROM st WHERE low <> was_low"
    "   ORDER BY event_time, product_id, warehouse_location, " INV_ARRIVAL("st")
    "  ON CONFLICT DO NOTHING"
    "  RETURNING state"
    ")"
    " SELECT (SELECT count(*) FROM lvl),"
    "        (SELECT count(*) FROM al WHERE state = 'low'),"
    "        (SELECT count(*) FROM al WHERE state = 'restored'),"
    "        (SELECT count(*) FROM new_inventory_updates) - (SELECT count(*) FROM cur)";

alerts_conf_t alerts_conf_default(void)
{
    alerts_conf_t c = {
        .velocity_count = 5,
        .velocity_window_ms = 60000,
        .high_value_cents = 500000,
        .max_quantity = 10,
        .low_stock = 20,
    };
    return c;
}

int alerts_conf_check(const alerts_conf_t *c, char *err, size_t size)
{
    if (c->velocity_count < 1 || c->velocity_count > 1000000)
        snprintf(err, size, "invalid value \"%d\" for option --fraud-velocity-count (1..1000000)",
                 c->velocity_count);
    else if (c->velocity_window_ms < 1 || c->velocity_window_ms > 86400000)
        snprintf(err, size,
                 "invalid value \"%" PRId64 " ms\" for option --fraud-velocity-window (0.001..86400 s)",
                 c->velocity_window_ms);
    else if (c->high_value_cents < 0 || c->high_value_cents > 1000000000000000LL)
        snprintf(err, size, "invalid value \"%" PRId64 " cents\" for option --fraud-high-value (0..10^13)",
                 c->high_value_cents);
    else if (c->max_quantity < 0)
        snprintf(err, size, "invalid value \"%d\" for option --fraud-max-quantity (>= 0)",
                 c->max_quantity);
    else if (c->low_stock < 0)
        snprintf(err, size, "invalid value \"%d\" for option --low-stock-threshold (>= 0)",
                 c->low_stock);
    else
        return 0;
    return -1;
}

/* The rule named s, or -1. */
static int rule_of(const char *s)
{
    for (int i = 0; i < ALERTS_RULES; i++)
        if (strcmp(s, rule_names[i]) == 0)
            return i;
    return -1;
}

int alerts_apply(PGconn *conn, const alerts_conf_t *conf, alerts_result_t *res)
{
    char count[24], window[24], high[24], qty[24], low[24];
    const char *fraud_params[4] = {count, window, high, qty};
    const char *inv_params[1] = {low};
    int64_t start = ts_monotonic_us();
    alerts_result_t out;
    PGresult *r = NULL;
    int rc = -1;

    memset(&out, 0, sizeof(out));
    memset(res, 0, sizeof(*res));
    snprintf(count, sizeof(count), "%d", conf->velocity_count);
    snprintf(window, sizeof(window), "%" PRId64, conf->velocity_window_ms);
    snprintf(high, sizeof(high), "%" PRId64, conf->high_value_cents);
    snprintf(qty, sizeof(qty), "%d", conf->max_quantity);
    snprintf(low, sizeof(low), "%d", conf->low_stock);

    r = db_run(conn, "could not apply the fraud rules", fraud_sql, 4, fraud_params, PGRES_TUPLES_OK);
    if (r == NULL)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        int rule = rule_of(PQgetvalue(r, i, 0));

        if (rule < 0)
            continue;
        out.fraud[rule] += strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (rule == ALERTS_VELOCITY)
            out.velocity_updated += strtoll(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);

    r = db_run(conn, "could not update the inventory levels", inventory_sql, 1, inv_params,
               PGRES_TUPLES_OK);
    if (r == NULL)
        goto out;
    if (PQntuples(r) == 1 && PQnfields(r) == 4) {
        out.levels_upserted = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        out.inventory[ALERTS_LOW] = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        out.inventory[ALERTS_RESTORED] = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        out.stale_updates = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    }
    out.us = ts_monotonic_us() - start;
    *res = out;
    rc = 0;

out:
    PQclear(r);
    return rc;
}

void alerts_result_add(alerts_result_t *total, const alerts_result_t *r)
{
    for (int i = 0; i < ALERTS_RULES; i++)
        total->fraud[i] += r->fraud[i];
    for (int i = 0; i < ALERTS_STATES; i++)
        total->inventory[i] += r->inventory[i];
    total->velocity_updated += r->velocity_updated;
    total->levels_upserted += r->levels_upserted;
    total->stale_updates += r->stale_updates;
    total->us += r->us;
}

const char *alerts_rule_name(alerts_rule_t rule)
{
    return rule >= 0 && rule < ALERTS_RULES ? rule_names[rule] : NULL;
}

const char *alerts_state_name(alerts_state_t state)
{
    return state >= 0 && state < ALERTS_STATES ? state_names[state] : NULL;
}
