/*
 * flusher.h - a thread that writes one batch at a time to PostgreSQL
 * (sink_flush), so that ecom-stream parses the next batch while the
 * previous one is being written: a double buffer between Kafka and
 * PostgreSQL.
 *
 * Ownership: the flusher borrows the sink (only its thread uses it while a
 * write is running; the caller may use it between flusher_wait() and the
 * next flusher_start()) and the batch handed to flusher_start() until
 * flusher_wait() returns.
 */
#ifndef ECOM_FLUSHER_H
#define ECOM_FLUSHER_H

#include "batch.h"
#include "sink.h"

typedef struct flusher flusher_t;

/* Starts the thread. Returns NULL on failure. */
flusher_t *flusher_new(sink_t *sink);
/* Waits for a running write, stops and joins the thread. Accepts NULL. */
void flusher_destroy(flusher_t *f);

/* Starts writing b; no write may be running. */
void flusher_start(flusher_t *f, const batch_t *b);
/* 1 while a write started by flusher_start() has not been collected. */
int flusher_running(const flusher_t *f);
/* 1 when the running write has finished (flusher_wait() will not block). */
int flusher_done(flusher_t *f);
/* Waits for the running write and returns its status, filling res. */
sink_status_t flusher_wait(flusher_t *f, sink_result_t *res);

#endif
