/*
 * pgmon.h - PostgreSQL as the pipeline's store: the size of every table
 * (a partitioned one with all its partitions), the row counts of the raw
 * tables and the dead-letter table, the newest event per topic and its
 * age, connections by state, the database's size.
 *
 * Samples:
 *   pg_up                                   1 (the scrape fails otherwise)
 *   pg_database_size_bytes
 *   pg_table_size_bytes{table}              pg_total_relation_size, partitions summed
 *   pg_table_rows{table}                    count(*), exact, for the raw tables
 *   pg_newest_event_timestamp_seconds{topic}  max(event_time) of its raw table
 *   pg_data_age_seconds{topic}              now() - that
 *   pg_connections{state}                   pg_stat_activity of this database
 *   pg_max_connections
 * Bounded: every statement shares the scrape's deadline (db_query_until);
 * a missed deadline drops the connection, which the next scrape opens
 * again. Owns its connection.
 */
#ifndef ECOM_PGMON_H
#define ECOM_PGMON_H

#include "sample.h"

#include <stddef.h>

typedef struct pgmon pgmon_t;

/* conninfo may be NULL (libpq's PG* variables). Connects lazily. */
pgmon_t *pgmon_new(const char *conninfo, const char *app_name);
void pgmon_free(pgmon_t *p);

/* Scrapes into out. Returns 0, or -1 with the reason in err. */
int pgmon_scrape(pgmon_t *p, int timeout_ms, smp_set_t *out, char *err, size_t errsize);

#endif
