/*
 * rowjson.h - rows of a COPY ... TO STDOUT (text format) as JSON object
 * lines, built on the client: the data lake's files (ecom-batch's
 * archive-raw), where PostgreSQL's own row_to_json() took 4 times as long
 * as the COPY of the same rows.
 *
 * Each column is written by its type: numbers (int2/4/8, oid, numeric,
 * float4/8) as JSON numbers (NaN and the infinities as strings), boolean as
 * true/false, json/jsonb as they are (their line breaks, only ever
 * whitespace between tokens, as spaces), timestamptz as ISO 8601
 * ("2026-11-10T00:00:00.123+00:00", as row_to_json() writes it), NULL as
 * null, everything else as a JSON string. Keys are the column names. The
 * object's members come in column order; the line ends with '\n'.
 *
 * Pure: no connection, no allocation per row (the caller's buf_t grows).
 */
#ifndef ECOM_ROWJSON_H
#define ECOM_ROWJSON_H

#include "buf.h"

#include <stddef.h>

typedef struct rowjson rowjson_t;

/* The columns' names and type OIDs (PQfname, PQftype). Returns NULL when
 * out of memory. */
rowjson_t *rowjson_new(int ncols, const char *const *names, const unsigned *type_oids);
void rowjson_free(rowjson_t *rj);

/* Appends the JSON line of one COPY text row (row[0..len), its trailing
 * newline optional) to out. Returns 0, or -1 when the row does not have
 * the columns' number of fields (out then holds a partial line: cut it
 * back). Check out->oom after. */
int rowjson_row(const rowjson_t *rj, const char *row, size_t len, buf_t *out);

#endif
