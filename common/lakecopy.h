/*
 * lakecopy.h - a query's rows into one data lake file as JSON lines:
 * PostgreSQL streams them with COPY (text format), common/rowjson.c makes
 * each an object by the columns' types, common/lake.c compresses and puts
 * the file in place whole. For archive-raw (ecom-batch) and
 * --export-clean (ecom-quality).
 */
#ifndef ECOM_LAKECOPY_H
#define ECOM_LAKECOPY_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The "items" of a transaction t's JSON line (an SQL expression): its
 * transaction_items rows by primary key, ordered by line_no, as a json
 * array ([] for none). */
#define LAKECOPY_TXN_ITEMS                                                                     \
    "coalesce((SELECT json_agg(json_build_object('line_no', i.line_no,"                        \
    "   'product_id', i.product_id, 'product_name', i.product_name, 'price', i.price,"          \
    "   'quantity', i.quantity, 'item_total', i.item_total) ORDER BY i.line_no)"                \
    "   FROM transaction_items i"                                                              \
    "  WHERE i.transaction_id = t.transaction_id AND i.event_time = t.event_time), '[]'::json)"

/* Writes the rows of select (a SELECT without parameters, ordered as the
 * file should be) to <root>/<relpath>, gzipped at gzip_level (0: plain).
 * Returns 0 with the row count in *rows and the file's size in *bytes, or
 * -1 with the reason in err (no file is left then). */
int lakecopy_json(PGconn *conn, const char *select, const char *root, const char *relpath,
                  int gzip_level, long long *rows, int64_t *bytes, char *err, size_t errsize);

#endif
