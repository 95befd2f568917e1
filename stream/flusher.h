/*
 * flusher.h - the PostgreSQL worker thread: the only thread that talks to
 * PostgreSQL once ecom-stream runs. It does one job at a time: write a
 * batch (sink_flush) or read the stored offsets of some partitions
 * (sink_load_offset), connecting first when the connection is gone (one
 * attempt, bounded by libpq's connect_timeout). ecom-stream parses the next
 * batch while the previous one is written: a double buffer between Kafka
 * and PostgreSQL.
 *
 * Waits: flusher_poll() never blocks; flusher_wait_until() blocks until a
 * deadline; flusher_destroy() gives a stuck job (a frozen server) until a
 * deadline and then leaves the thread behind rather than hang the exit.
 *
 * Ownership: the flusher borrows the sink (only its thread uses it while a
 * job runs) and the batch or load items handed to a job until the job's
 * result is collected.
 */
#ifndef ECOM_FLUSHER_H
#define ECOM_FLUSHER_H

#include "batch.h"
#include "sink.h"

#include <stddef.h>
#include <stdint.h>

typedef struct flusher flusher_t;

/* One partition whose stored offset a load job reads. */
typedef struct {
    const char *topic;
    int32_t partition;
    int found;           /* out: 1 a row, 0 none, -1 not read (error) */
    int64_t next;        /* out: next_offset */
    char cluster[128];   /* out: the cluster id stored with it */
    int64_t max_ts;      /* out: max_event_time stored with it (epoch ms;
                          * BATCH_NO_TIME: none) */
} flusher_load_t;

/* Starts the thread. Returns NULL on failure. */
flusher_t *flusher_new(sink_t *sink);
/* Stops the thread. Returns 0, or -1 when a job was still running at
 * deadline_us (monotonic): then the thread, f and the sink are left behind
 * for the process exit, and the caller must not free the sink. */
int flusher_destroy(flusher_t *f, int64_t deadline_us);

/* Starts writing b; no job may be running. */
void flusher_start(flusher_t *f, const batch_t *b);
/* Starts reading n stored offsets; no job may be running. Without items it
 * only connects. */
void flusher_start_load(flusher_t *f, flusher_load_t *items, size_t n);
/* 1 while a job started has not been collected. */
int flusher_running(const flusher_t *f);
/* Collects a finished job without blocking: returns 1 and its status (and
 * for a write, res), or 0 while it runs. A load job's status is SINK_OK
 * when every item was read. */
int flusher_poll(flusher_t *f, sink_status_t *st, sink_result_t *res);
/* As flusher_poll(), waiting until deadline_us (monotonic) at most. */
int flusher_wait_until(flusher_t *f, int64_t deadline_us, sink_status_t *st,
                       sink_result_t *res);

#endif
