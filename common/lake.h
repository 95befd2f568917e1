/*
 * lake.h - files of the data lake (data/raw, data/processed,
 * data/aggregated), written so that no reader ever sees half of one.
 *
 * A file is written unnamed in its final directory (O_TMPFILE: a crash
 * before the commit leaves nothing behind, not even a temporary name),
 * optionally through gzip, then fsynced, linked under a hidden temporary
 * name, renamed over the final name and the directory fsynced. Where the
 * file system has no O_TMPFILE, a hidden ".<name>.XXXXXX" file stands in.
 * A crash can leave a hidden file behind only in that fallback, or between
 * the link and the rename: a dot file, which lake readers skip (as Spark
 * and Hive do); the final name only ever holds a whole file.
 *
 * gzip: libdeflate (2 to 3 times zlib's speed) compresses each 4 MiB of
 * input as a gzip member of its own; a file is their concatenation, which
 * gzip -d, zlib's gzread, Python's gzip and Java's GZIPInputStream read as
 * one stream. The output is deterministic (no time or name in the headers):
 * the same bytes in give the same file out.
 *
 * Ownership: lake_open() returns a handle that lake_commit() or
 * lake_abort() frees; exactly one of them must be called.
 */
#ifndef ECOM_LAKE_H
#define ECOM_LAKE_H

#include <stddef.h>
#include <stdint.h>

typedef struct lake_file lake_file_t;

/* Opens <root>/<relpath> for writing, creating its directories (0755).
 * relpath is relative, without "." or ".." components. gzip_level 0
 * writes the bytes as they come, 1..12 compresses them (gzip; libdeflate's
 * levels, 12 the smallest). Returns the
 * handle, or NULL with the reason in err. */
lake_file_t *lake_open(const char *root, const char *relpath, int gzip_level, char *err,
                       size_t errsize);

/* Appends len bytes. Returns 0, or -1 with the reason kept for
 * lake_commit() (later writes are dropped). */
int lake_write(lake_file_t *f, const void *data, size_t len);

/* Finishes the file and puts it in place (see above), then frees f.
 * Returns 0, or -1 with the reason in err (nothing is left in place then).
 * *bytes (when not NULL) gets the file's size. */
int lake_commit(lake_file_t *f, int64_t *bytes, char *err, size_t errsize);

/* Drops the file unwritten and frees f. Accepts NULL. */
void lake_abort(lake_file_t *f);

#endif
