/*
 * flusher.c - the PostgreSQL worker thread (see flusher.h). Owns the thread,
 * its mutex and condition variable, the job being done and its result.
 */
#include "flusher.h"
#include "elog.h"
#include "ts.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENSURE_EVERY_US (3600 * 1000000LL) /* daily partitions ahead: hourly */
#define DAYS_AHEAD 3

struct flusher {
    sink_t *sink;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int job;              /* JOB_* pending, JOB_NONE when none */
    const batch_t *batch; /* JOB_FLUSH */
    flusher_load_t *items; /* JOB_LOAD */
    size_t item_count;
    int running;          /* started and not yet collected */
    int done;             /* the running job has finished */
    int stop;
    int64_t ensured_us;   /* last ensure of daily partitions (worker only) */
    sink_status_t status;
    sink_result_t res;
};

enum { JOB_NONE = 0, JOB_FLUSH, JOB_LOAD };

/* Connects when needed (one attempt). Runs on the worker thread. */
static int ensure_connected(flusher_t *f)
{
    if (sink_connected(f->sink))
        return 0;
    if (sink_connect(f->sink, 0) != 0)
        return -1;
    f->ensured_us = ts_monotonic_us();
    return 0;
}

static sink_status_t do_load(flusher_t *f, flusher_load_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        items[i].found = -1;
    if (ensure_connected(f) != 0)
        return SINK_RETRY;
    for (size_t i = 0; i < n; i++) {
        items[i].cluster[0] = '\0';
        items[i].max_ts = BATCH_NO_TIME;
        items[i].found = sink_load_offset(f->sink, items[i].topic, items[i].partition,
                                          &items[i].next, items[i].cluster,
                                          sizeof(items[i].cluster), &items[i].max_ts);
        if (items[i].found < 0)
            return SINK_RETRY;
    }
    return SINK_OK;
}

static sink_status_t do_flush(flusher_t *f, const batch_t *b, sink_result_t *res)
{
    if (ensure_connected(f) != 0)
        return SINK_RETRY;
    if (ts_monotonic_us() - f->ensured_us >= ENSURE_EVERY_US) {
        sink_ensure_partitions(f->sink, DAYS_AHEAD);
        f->ensured_us = ts_monotonic_us();
    }
    return sink_flush(f->sink, b, res);
}

static void *flusher_main(void *arg)
{
    flusher_t *f = arg;

    pthread_mutex_lock(&f->lock);
    for (;;) {
        sink_result_t res;
        sink_status_t st;
        int job;

        while (f->job == JOB_NONE && !f->stop)
            pthread_cond_wait(&f->cond, &f->lock);
        if (f->job == JOB_NONE)
            break; /* stop requested and nothing pending */
        job = f->job;
        pthread_mutex_unlock(&f->lock);
        memset(&res, 0, sizeof(res));
        st = job == JOB_FLUSH ? do_flush(f, f->batch, &res) : do_load(f, f->items, f->item_count);
        pthread_mutex_lock(&f->lock);
        f->job = JOB_NONE;
        f->status = st;
        f->res = res;
        f->done = 1;
        pthread_cond_broadcast(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

flusher_t *flusher_new(sink_t *sink)
{
    flusher_t *f = calloc(1, sizeof(*f));
    pthread_condattr_t attr;

    if (f == NULL)
        return NULL;
    f->sink = sink;
    f->ensured_us = ts_monotonic_us();
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&f->thread, NULL, flusher_main, f) != 0) {
        LOG_ERROR("could not start the PostgreSQL writer thread");
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        free(f);
        return NULL;
    }
    return f;
}

/* Waits on the condition until deadline_us; returns 0 on timeout. Called
 * with the lock held. */
static int timed_wait(flusher_t *f, int64_t deadline_us)
{
    struct timespec ts = {(time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000};

    return pthread_cond_timedwait(&f->cond, &f->lock, &ts) != ETIMEDOUT;
}

int flusher_destroy(flusher_t *f, int64_t deadline_us)
{
    int idle = 1;

    if (f == NULL)
        return 0;
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_cond_broadcast(&f->cond);
    while (f->job != JOB_NONE && (idle = timed_wait(f, deadline_us)))
        ;
    idle = f->job == JOB_NONE;
    pthread_mutex_unlock(&f->lock);
    if (!idle) {
        LOG_WARN("a PostgreSQL job is still running at exit; leaving it behind");
        pthread_detach(f->thread);
        return -1;
    }
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

static void start_job(flusher_t *f, int job, const batch_t *b, flusher_load_t *items, size_t n)
{
    pthread_mutex_lock(&f->lock);
    f->job = job;
    f->batch = b;
    f->items = items;
    f->item_count = n;
    f->running = 1;
    f->done = 0;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

void flusher_start(flusher_t *f, const batch_t *b) { start_job(f, JOB_FLUSH, b, NULL, 0); }

void flusher_start_load(flusher_t *f, flusher_load_t *items, size_t n)
{
    start_job(f, JOB_LOAD, NULL, items, n);
}

int flusher_running(const flusher_t *f) { return f->running; }

/* Collects the result when done; called with the lock held. */
static int collect(flusher_t *f, sink_status_t *st, sink_result_t *res)
{
    if (!f->running || !f->done)
        return 0;
    *st = f->status;
    if (res != NULL)
        *res = f->res;
    f->running = 0;
    f->done = 0;
    return 1;
}

int flusher_poll(flusher_t *f, sink_status_t *st, sink_result_t *res)
{
    int got;

    pthread_mutex_lock(&f->lock);
    got = collect(f, st, res);
    pthread_mutex_unlock(&f->lock);
    return got;
}

int flusher_wait_until(flusher_t *f, int64_t deadline_us, sink_status_t *st,
                       sink_result_t *res)
{
    int got;

    pthread_mutex_lock(&f->lock);
    while (!(got = collect(f, st, res)) && f->running && timed_wait(f, deadline_us))
        ;
    pthread_mutex_unlock(&f->lock);
    return got;
}
