/*
 * flusher.c - the PostgreSQL writer thread (see flusher.h). Owns the thread,
 * its mutex and condition variable, and the result of the last write.
 */
#include "flusher.h"
#include "elog.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct flusher {
    sink_t *sink;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const batch_t *batch; /* the write to do, NULL when none is pending */
    int running;          /* started and not yet collected by flusher_wait */
    int done;             /* the running write has finished */
    int stop;
    sink_status_t status;
    sink_result_t res;
};

static void *flusher_main(void *arg)
{
    flusher_t *f = arg;

    pthread_mutex_lock(&f->lock);
    for (;;) {
        const batch_t *b;
        sink_result_t res;
        sink_status_t st;

        while (f->batch == NULL && !f->stop)
            pthread_cond_wait(&f->cond, &f->lock);
        if (f->batch == NULL)
            break; /* stop requested and nothing pending */
        b = f->batch;
        pthread_mutex_unlock(&f->lock);
        memset(&res, 0, sizeof(res));
        st = sink_flush(f->sink, b, &res);
        pthread_mutex_lock(&f->lock);
        f->batch = NULL;
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

    if (f == NULL)
        return NULL;
    f->sink = sink;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    if (pthread_create(&f->thread, NULL, flusher_main, f) != 0) {
        LOG_ERROR("could not start the PostgreSQL writer thread");
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        free(f);
        return NULL;
    }
    return f;
}

void flusher_destroy(flusher_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void flusher_start(flusher_t *f, const batch_t *b)
{
    pthread_mutex_lock(&f->lock);
    f->batch = b;
    f->running = 1;
    f->done = 0;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

int flusher_running(const flusher_t *f) { return f->running; }

int flusher_done(flusher_t *f)
{
    int done;
    pthread_mutex_lock(&f->lock);
    done = f->running && f->done;
    pthread_mutex_unlock(&f->lock);
    return done;
}

sink_status_t flusher_wait(flusher_t *f, sink_result_t *res)
{
    sink_status_t st;

    pthread_mutex_lock(&f->lock);
    while (!f->done)
        pthread_cond_wait(&f->cond, &f->lock);
    st = f->status;
    *res = f->res;
    f->running = 0;
    f->done = 0;
    pthread_mutex_unlock(&f->lock);
    return st;
}
