/*
 * export.h - ecom-quality --export-clean: each hour of the period's
 * validated, de-duplicated events as JSON lines under
 * <lake>/processed/<topic>/dt=YYYY-MM-DD/hr=HH.jsonl.gz (common/lakecopy.c:
 * whole files or none, the same bytes on a rerun).
 *
 * Clean means: no field the event type needs is missing (the completeness
 * rules of checks.c), and for user events, no earlier event of the same
 * user, type and product within 1 s (the near-duplicates). Transactions
 * carry their items, as in the raw archive.
 */
#ifndef ECOM_EXPORT_H
#define ECOM_EXPORT_H

#include <libpq-fe.h>
#include <stdint.h>

/* Writes the files of every hour from the one holding lo to the one
 * holding hi - 1. Returns the number of files, or -1 (logged). */
int export_clean(PGconn *conn, int64_t lo, int64_t hi, const char *lake_root, int gzip_level,
                 long long *rows);

#endif
