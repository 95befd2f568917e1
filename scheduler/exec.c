/*
 * exec.c - the executor's threads and slots (see exec.h).
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void notify(exec_t *e)
{
    char b = 1;
    ssize_t n = write(e->wake[1], &b, 1); /* full pipe: the loop is awake anyway */

    (void)n;
}

typedef struct {
    exec_t *e;
    exec_slot_t *s;
} job_t;

static void on_started(void *ctx, pid_t pid, int64_t proc_start)
{
    job_t *j = ctx;

    j->s->pid = pid;
    j->s->proc_start = proc_start;
    atomic_store(&j->s->started, 1);
    notify(j->e);
}

static void *thread_main(void *arg)
{
    job_t j = *(job_t *)arg;
    runner_ctl_t ctl = {on_started, &j, &j.s->cancel};

    free(arg);
    if (runner_run_ctl(j.s->command, j.s->env, j.s->timeout_ms, j.s->max_output, &ctl, &j.s->result) != 0) {
        j.s->start_failed = 1;
        j.s->start_errno = errno;
    }
    atomic_store(&j.s->done, 1);
    notify(j.e);
    return NULL;
}

int exec_init(exec_t *e, int parallelism)
{
    memset(e, 0, sizeof(*e));
    e->n = parallelism < 1 ? 1 : parallelism > EXEC_MAX_SLOTS ? EXEC_MAX_SLOTS : parallelism;
    return pipe2(e->wake, O_CLOEXEC | O_NONBLOCK);
}

void exec_destroy(exec_t *e)
{
    for (int i = 0; i < EXEC_MAX_SLOTS; i++)
        if (e->slots[i].in_use)
            exec_release(&e->slots[i]);
    close(e->wake[0]);
    close(e->wake[1]);
}

exec_slot_t *exec_slot(exec_t *e)
{
    for (int i = 0; i < e->n; i++)
        if (!e->slots[i].in_use) {
            exec_slot_t *s = &e->slots[i];
            memset(s, 0, sizeof(*s));
            return s;
        }
    return NULL;
}

int exec_running(const exec_t *e)
{
    int n = 0;

    for (int i = 0; i < EXEC_MAX_SLOTS; i++)
        n += e->slots[i].in_use;
    return n;
}

static void slot_free(exec_slot_t *s)
{
    free(s->command);
    for (int i = 0; i < 3; i++)
        free(s->env[i]);
    runner_result_free(&s->result);
    memset(s, 0, sizeof(*s));
}

int exec_start(exec_t *e, exec_slot_t *s)
{
    job_t *j = malloc(sizeof(*j));
    pthread_attr_t attr;
    int err;

    if (j == NULL) {
        slot_free(s);
        return -1;
    }
    *j = (job_t){e, s};
    s->in_use = 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    err = pthread_create(&s->thread, &attr, thread_main, j);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        free(j);
        slot_free(s);
        errno = err;
        return -1;
    }
    return 0;
}

void exec_wait(exec_t *e, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{e->wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
    char buf[256];

    if (poll(p, fd >= 0 ? 2 : 1, timeout_ms < 0 ? 0 : timeout_ms) > 0 && (p[0].revents & POLLIN))
        while (read(e->wake[0], buf, sizeof(buf)) > 0)
            ;
}

void exec_release(exec_slot_t *s)
{
    pthread_join(s->thread, NULL);
    slot_free(s);
}

void exec_cancel_all(exec_t *e)
{
    for (int i = 0; i < EXEC_MAX_SLOTS; i++)
        if (e->slots[i].in_use)
            atomic_store(&e->slots[i].cancel, 1);
}
