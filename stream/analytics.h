/*
 * analytics.h - ecom-stream's analytics as the flush transaction sees them:
 * the settings of the event-time clock (evtime.c), the window metrics
 * (windows.c) and the fraud and stock rules (alerts.c), their flags, the
 * per-session temporary tables new_* that hold the rows a transaction newly
 * stored, and one call that runs both SQL modules on them.
 *
 * sink.c calls analytics_session_sql() after connecting, fills new_* while
 * it stores the raw rows (for user events whose ids are all new, their
 * groups in new_user_event_groups and new_user_sessions instead: preagg.h),
 * and calls analytics_apply() once the offsets are
 * updated, inside the same transaction: figures, alerts and offsets commit
 * or roll back together. Its totals are added to the caller's metrics only
 * after the COMMIT.
 */
#ifndef ECOM_ANALYTICS_H
#define ECOM_ANALYTICS_H

#include "alerts.h"
#include "evtime.h"
#include "windows.h"

#include <getopt.h>
#include <libpq-fe.h>

typedef struct {
    int enabled;             /* 0 (--no-analytics): raw rows and offsets only */
    evtime_conf_t evtime;    /* --window, --lateness, --idle-timeout */
    windows_conf_t windows;  /* --window, --anomaly-*, --trending-* */
    alerts_conf_t alerts;    /* --fraud-*, --low-stock-threshold */
} analytics_conf_t;

typedef struct {
    windows_result_t windows;
    alerts_result_t alerts;
} analytics_result_t;

/* The defaults of every setting. */
analytics_conf_t analytics_conf_default(void);

/* The long options, first id ANALYTICS_OPT_FIRST; ends with a zero entry.
 * main.c copies them into its own table. */
#define ANALYTICS_OPT_FIRST 2000
extern const struct option analytics_options[];

/* Parses one of analytics_options (id, optarg) into conf; a bad value is
 * a usage error (exit 2, as config_flag_* do). Returns 1 when id was one of
 * them, 0 otherwise. */
int analytics_parse_option(analytics_conf_t *conf, int id, const char *arg);

/* After the flags: checks the settings together. Returns 0, or -1 with a
 * message naming the flag in err. */
int analytics_conf_check(const analytics_conf_t *conf, char *err, size_t size);

/* The help text of the flags, for --help. */
void analytics_usage(void);

/* The statements that create the session's new_* tables (after the schema
 * of sql/init.sql and sql/windows.sql), NULL-terminated. */
extern const char *const analytics_session_sql[];

/* Runs windows_apply() and alerts_apply() on new_* inside the caller's open
 * transaction. Returns 0 with *res filled, or -1 with the server's error in
 * *error when error is not NULL (the caller PQclear()s it; else logged):
 * the transaction is aborted. With conf->enabled 0 does nothing. */
int analytics_apply(PGconn *conn, const analytics_conf_t *conf, const char *consumer_group,
                    int partitions, analytics_result_t *res, PGresult **error);

void analytics_result_add(analytics_result_t *total, const analytics_result_t *r);

#endif
