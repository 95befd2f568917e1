/*
 * pool.c - a job's periods over several connections (see pool.h). Each
 * worker thread owns its connection and its statement canceller; the
 * shared cursor and totals are under one mutex; the calling thread prints
 * the progress lines while it waits.
 */
#include "pool.h"
#include "db.h"
#include "elog.h"
#include "term.h"
#include "ts.h"

#include <pthread.h>
#include <stdlib.h>

#define POOL_MAX_WORKERS 16

typedef struct {
    const pool_conf_t *c;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t next;           /* the next period to hand out */
    int64_t done, failed;   /* periods */
    int lost;               /* a worker lost its connection or stopped */
    int running;            /* workers still running */
    int64_t at;             /* the latest period finished */
    run_result_t r;
} pool_t;

static void *worker_main(void *arg)
{
    pool_t *p = arg;
    const pool_conf_t *c = p->c;
    PGconn *conn = db_connect_job(c->conninfo, "ecom-batch", c->connect_wait_ms);
    db_canceller_t *canceller = conn ? db_canceller_start(conn) : NULL;
    int fatal = canceller == NULL;

    pthread_mutex_lock(&p->lock);
    while (!fatal && !p->lost && !term_requested() && p->next <= c->last) {
        int64_t period = p->next;
        run_result_t mine = {0, 0, 0};
        int rc;

        p->next = period_next(c->job->kind, period);
        pthread_mutex_unlock(&p->lock);
        rc = run_period(conn, c->job, period, period_next(c->job->kind, period), c->run, &mine, &fatal);
        pthread_mutex_lock(&p->lock);
        p->done++;
        p->failed += rc != 0;
        p->at = period > p->at ? period : p->at;
        p->r.rows += mine.rows;
        p->r.files += mine.files;
        p->r.bytes += mine.bytes;
    }
    if (fatal)
        p->lost = 1;
    p->running--;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    db_canceller_stop(canceller);
    PQfinish(conn);
    return NULL;
}

/* Waits up to ms for the workers' state to change. */
static void wait_a_while(pool_t *p, int ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cond, &p->lock, &until);
}

int pool_run(const pool_conf_t *c)
{
    const job_t *job = c->job;
    const int64_t total = period_count(job->kind, c->first, c->last);
    const int64_t t0 = ts_monotonic_ms();
    int64_t next_progress = t0 + (int64_t)(c->progress_s * 1000);
    pthread_t threads[POOL_MAX_WORKERS];
    char a[PERIOD_LABEL_LEN], b[PERIOD_LABEL_LEN];
    int n = c->workers < 1 ? 1 : c->workers > POOL_MAX_WORKERS ? POOL_MAX_WORKERS : c->workers;
    int started = 0, status;
    pool_t p = {.c = c, .next = c->first, .at = c->first};

    if (n > total)
        n = (int)total;
    LOG_INFO("%s: %lld %s period%s, %s to %s, on %d connection%s", job->name, (long long)total,
             period_kind_name(job->kind), total == 1 ? "" : "s", period_label(job->kind, c->first, a),
             period_label(job->kind, c->last, b), n, n == 1 ? "" : "s");
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    pthread_mutex_lock(&p.lock);
    for (; started < n; started++) {
        p.running++;
        if (pthread_create(&threads[started], NULL, worker_main, &p) != 0) {
            LOG_ERROR("could not start worker thread %d", started + 1);
            p.running--;
            p.lost = 1;
            break;
        }
    }
    while (p.running > 0) {
        wait_a_while(&p, 100);
        if (c->progress_s > 0 && ts_monotonic_ms() >= next_progress && p.running > 0) {
            LOG_INFO("progress: %s: %lld/%lld periods (up to %s), %lld rows, %lld failed, %.1f s",
                     job->name, (long long)p.done, (long long)total, period_label(job->kind, p.at, a),
                     p.r.rows, (long long)p.failed, (ts_monotonic_ms() - t0) / 1000.0);
            next_progress = ts_monotonic_ms() + (int64_t)(c->progress_s * 1000);
        }
    }
    pthread_mutex_unlock(&p.lock);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    LOG_INFO("%s: %lld of %lld periods done, %lld failed, %lld rows, %lld files (%lld bytes), %.3f s",
             job->name, (long long)p.done, (long long)total, (long long)p.failed, p.r.rows, p.r.files,
             (long long)p.r.bytes, (ts_monotonic_ms() - t0) / 1000.0);
    if (p.done < total)
        LOG_ERROR("%s: stopped before %lld periods (%s)", job->name, (long long)(total - p.done),
                  term_requested() ? "stop requested" : "lost PostgreSQL");
    status = p.failed == 0 && p.done == total ? 0 : 1;
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
    return status;
}
