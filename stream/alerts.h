/*
 * alerts.h - ecom-stream's fraud rules and inventory state (issue 9): the
 * tables fraud_alerts, inventory_levels and inventory_alerts of
 * sql/alerts.sql (with the optional per-product inventory_thresholds),
 * kept exactly once inside the flush transaction.
 *
 * alerts_apply() runs inside sink_flush()'s open transaction, after the
 * raw INSERTs, when the session's temporary tables new_transactions,
 * new_transaction_items and new_inventory_updates hold exactly the rows
 * that transaction newly stored (CREATE TEMP TABLE new_X (LIKE X) ON COMMIT
 * DELETE ROWS, filled by the caller). Everything is derived in SQL from
 * those rows and the stored tables, so a duplicate (an id already stored)
 * never fires twice, a crash rolls the alerts back with the rows and the
 * offsets, and a replay or a restart stores nothing twice (the unique keys
 * make a second insert of the same alert a no-op as well). State that
 * must survive restarts (the current level of each (product, warehouse)
 * and whether it is low) lives in inventory_levels, never in memory.
 * new_user_events is not read.
 *
 * Fraud rules (one alert per transaction and rule; details in sql/alerts.sql):
 *   velocity        severity high: more than velocity_count transactions of
 *                   one user within velocity_window_ms of event time (both
 *                   ends inclusive); ties in event time ordered by
 *                   transaction_id; every transaction after the Nth of a
 *                   span is flagged. The alert set depends only on the
 *                   stored rows, not on arrival order or batching: each
 *                   apply evaluates the new transactions and the user's
 *                   stored ones within the window after each of them; a
 *                   count only grows, so an alert is never retracted, and
 *                   its details are updated when its count grows.
 *   high_value      severity medium: total_amount > high_value_cents / 100.
 *   amount_mismatch severity high: totals_match false.
 *   quantity_spike  severity low: a line with quantity > max_quantity.
 * All stored transactions count, late ones included.
 *
 * Inventory (definitions in sql/alerts.sql): an update becomes the current
 * level when its (event_time, kafka_partition, kafka_offset) is above that
 * of every earlier-arrived update of its (product, warehouse); otherwise it
 * is stale and changes nothing, fires nothing. A level is low when its
 * stock is below the threshold (inventory_thresholds, else low_stock); a
 * change of that state between consecutive current levels fires 'low' or
 * 'restored', each crossing of a batch in event-time order; a key never
 * seen starts not low. Arrival order is the Kafka partition's (a product's
 * updates share one: the message key is product_id), so live and replay
 * agree however the partition is cut into batches.
 *
 * Several instances: a user's transactions and a product's updates each
 * come through one partition (message keys user_id and product_id), and
 * the offset fence lets one instance at a time write a partition, so no
 * two transactions evaluate the same user or key at once; the unique keys
 * and ON CONFLICT make any overlap harmless.
 *
 * Not thread-safe per connection (libpq's rule); no state of its own.
 */
#ifndef ECOM_ALERTS_H
#define ECOM_ALERTS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ALERTS_VELOCITY = 0,
    ALERTS_HIGH_VALUE,
    ALERTS_AMOUNT_MISMATCH,
    ALERTS_QUANTITY_SPIKE,
    ALERTS_RULES
} alerts_rule_t;

typedef enum {
    ALERTS_LOW = 0,   /* the stock went below the threshold */
    ALERTS_RESTORED,  /* it came back to or above it */
    ALERTS_STATES
} alerts_state_t;

/* Thresholds; each field names the ecom-stream flag it will become. */
typedef struct {
    int velocity_count;          /* --fraud-velocity-count N (5): flagged
                                  * when MORE than N in the window;
                                  * 1..1000000 */
    int64_t velocity_window_ms;  /* --fraud-velocity-window SECONDS (60,
                                  * fractions to ms): 1 ms..24 h */
    int64_t high_value_cents;    /* --fraud-high-value AMOUNT (5000.00):
                                  * flagged when total_amount is above;
                                  * 0..10^15 cents */
    int max_quantity;            /* --fraud-max-quantity N (10): a line
                                  * with a quantity above it; >= 0 */
    int low_stock;               /* --low-stock-threshold N (20): low when
                                  * stock < N, for products without a row
                                  * in inventory_thresholds; >= 0 */
} alerts_conf_t;

/* What one alerts_apply() wrote. Add it to the metrics only after the
 * transaction committed (a rollback undoes it). */
typedef struct {
    long long fraud[ALERTS_RULES];     /* fraud alerts inserted, by rule */
    long long velocity_updated;        /* velocity alerts whose count grew */
    long long inventory[ALERTS_STATES]; /* inventory alerts, by state */
    long long levels_upserted;         /* inventory_levels rows inserted or
                                        * moved to a newer update */
    long long stale_updates;           /* new updates that did not become
                                        * the current level */
    int64_t us;                        /* time spent, microseconds */
} alerts_result_t;

/* The defaults above. */
alerts_conf_t alerts_conf_default(void);

/* Checks every field's range. Returns 0, or -1 with a message naming the
 * flag and the value in err (e.g. for a usage error, exit 2). */
int alerts_conf_check(const alerts_conf_t *conf, char *err, size_t size);

/* Applies the fraud rules and the inventory levels and alerts to the rows
 * in the new_* temporary tables, inside the caller's open transaction
 * (two statements). Returns 0 with *res filled, or -1 (logged; *res
 * zeroed) with PostgreSQL's error in PQerrorMessage(conn) and the
 * transaction aborted: the caller rolls back. Data the raw tables accept
 * never makes it fail. */
int alerts_apply(PGconn *conn, const alerts_conf_t *conf, alerts_result_t *res);

/* total += r, field by field (us included). */
void alerts_result_add(alerts_result_t *total, const alerts_result_t *r);

/* The rule's name as stored in fraud_alerts.rule ("velocity", ...), and
 * the state's in inventory_alerts.state ("low", "restored"); NULL when out
 * of range. For metric labels. */
const char *alerts_rule_name(alerts_rule_t rule);
const char *alerts_state_name(alerts_state_t state);

#endif
