/*
 * lakecopy.c - query rows to a JSON-lines lake file (see lakecopy.h).
 */
#include "lakecopy.h"
#include "buf.h"
#include "db.h"
#include "lake.h"
#include "rowjson.h"

#include <stdio.h>

#define LAKECOPY_MAX_COLS 64
#define LAKECOPY_FLUSH (256 * 1024)

/* The COPY's sink: rows to JSON lines, handed to the file 256 KiB at a time. */
typedef struct {
    rowjson_t *rj;
    lake_file_t *file;
    buf_t lines;
    int bad; /* a row did not match the columns */
} lakecopy_sink_t;

static int to_json_lines(void *ctx, const char *row, size_t len)
{
    lakecopy_sink_t *s = ctx;

    if (rowjson_row(s->rj, row, len, &s->lines) != 0) {
        s->bad = 1;
        return -1;
    }
    if (s->lines.oom)
        return -1;
    if (s->lines.len >= LAKECOPY_FLUSH) {
        if (lake_write(s->file, s->lines.data, s->lines.len) != 0)
            return -1;
        buf_reset(&s->lines);
    }
    return 0;
}

/* The columns of select's rows: a LIMIT 0 run of it. */
static rowjson_t *columns_of(PGconn *conn, const char *select)
{
    const char *names[LAKECOPY_MAX_COLS];
    unsigned oids[LAKECOPY_MAX_COLS];
    rowjson_t *rj = NULL;
    PGresult *res;
    buf_t sql;
    int n;

    buf_init(&sql);
    buf_printf(&sql, "SELECT * FROM (%s) AS d LIMIT 0", select);
    res = sql.oom ? NULL
                  : db_run(conn, "could not read the columns", sql.data, 0, NULL, PGRES_TUPLES_OK);
    buf_free(&sql);
    if (res == NULL)
        return NULL;
    n = PQnfields(res);
    if (n <= LAKECOPY_MAX_COLS) {
        for (int i = 0; i < n; i++) {
            names[i] = PQfname(res, i);
            oids[i] = PQftype(res, i);
        }
        rj = rowjson_new(n, names, oids);
    }
    PQclear(res);
    return rj;
}

int lakecopy_json(PGconn *conn, const char *select, const char *root, const char *relpath,
                  int gzip_level, long long *rows, int64_t *bytes, char *err, size_t errsize)
{
    lakecopy_sink_t sink = {NULL, NULL, {NULL, 0, 0, 0}, 0};
    buf_t sql;
    int rc = -1;

    buf_init(&sql);
    *rows = 0;
    if ((sink.rj = columns_of(conn, select)) == NULL) {
        snprintf(err, errsize, "reading the columns for %s failed: %s", relpath, PQerrorMessage(conn));
        goto done;
    }
    buf_printf(&sql, "COPY (%s) TO STDOUT", select);
    if (sql.oom) {
        snprintf(err, errsize, "out of memory");
        goto done;
    }
    if ((sink.file = lake_open(root, relpath, gzip_level, err, errsize)) == NULL)
        goto done;
    if (db_copy_out(conn, sql.data, to_json_lines, &sink, rows) != 0 ||
        (sink.lines.len > 0 && lake_write(sink.file, sink.lines.data, sink.lines.len) != 0)) {
        snprintf(err, errsize, "writing %s failed: %s", relpath,
                 sink.bad ? "a row did not match its columns" : PQerrorMessage(conn));
        lake_abort(sink.file);
        goto done;
    }
    rc = lake_commit(sink.file, bytes, err, errsize);
done:
    buf_free(&sql);
    buf_free(&sink.lines);
    rowjson_free(sink.rj);
    return rc;
}
