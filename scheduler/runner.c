/*
 * runner.c - one task's process group (see runner.h).
 */
#include "runner.h"
#include "ts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The tail buffer: the last cap bytes of what was read. */
static void keep(runner_result_t *r, size_t cap, const char *data, size_t n)
{
    if (n >= cap) {
        r->output_dropped += r->output_len + (n - cap);
        memcpy(r->output, data + (n - cap), cap);
        r->output_len = cap;
        return;
    }
    if (r->output_len + n > cap) {
        size_t drop = r->output_len + n - cap;
        memmove(r->output, r->output + drop, r->output_len - drop);
        r->output_len -= drop;
        r->output_dropped += drop;
    }
    memcpy(r->output + r->output_len, data, n);
    r->output_len += n;
}

/* The environment: ours plus extra. Returns a malloc'd array of
 * pointers (the strings are borrowed). */
static char **merge_env(char *const *extra)
{
    size_t n = 0, m = 0;
    char **out;

    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[m] != NULL)
        m++;
    if ((out = malloc((n + m + 1) * sizeof(*out))) == NULL)
        return NULL;
    memcpy(out, environ, n * sizeof(*out));
    for (size_t i = 0; i < m; i++)
        out[n + i] = extra[i];
    out[n + m] = NULL;
    return out;
}

int runner_run(const char *command, char *const *env, int64_t timeout_ms, size_t max_output,
               runner_result_t *r)
{
    return runner_run_ctl(command, env, timeout_ms, max_output, NULL, r);
}

int runner_run_ctl(const char *command, char *const *env, int64_t timeout_ms, size_t max_output,
                   const runner_ctl_t *ctl, runner_result_t *r)
{
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int pipefd[2], status = 0, exited = 0, err, killed = 0;
    int64_t t0 = ts_monotonic_ms(), deadline = timeout_ms > 0 ? t0 + timeout_ms : INT64_MAX;
    int64_t kill_at = INT64_MAX, drain_until = INT64_MAX;
    char **envp, buf[65536];
    pid_t pid;

    memset(r, 0, sizeof(*r));
    r->exit_status = -1;
    if (max_output == 0)
        max_output = 1;
    if ((r->output = malloc(max_output + 1)) == NULL)
        return -1;
    if ((envp = merge_env(env)) == NULL || pipe2(pipefd, O_CLOEXEC) != 0) {
        free(envp);
        runner_result_free(r);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    {
        sigset_t all, none;
        sigfillset(&all);
        sigemptyset(&none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setsigmask(&attr, &none);
    }
    err = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(envp);
    close(pipefd[1]);
    if (err != 0) {
        close(pipefd[0]);
        runner_result_free(r);
        errno = err;
        return -1;
    }
    if (ctl != NULL && ctl->started != NULL)
        ctl->started(ctl->ctx, pid, runner_proc_start(pid));
    /* Read while the pipe is open; once the command has exited, stragglers
     * holding the pipe get a second to finish writing, then the group is
     * killed. Over the timeout: SIGTERM to the group, SIGKILL after the
     * grace period. Every wait is at most 100 ms, so the exit is seen. */
    for (int open = 1;;) {
        int64_t now = ts_monotonic_ms(), until = now + 100;
        struct pollfd p = {open ? pipefd[0] : -1, POLLIN, 0};

        if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            drain_until = now + 1000;
        }
        if (exited && (!open || now >= drain_until))
            break;
        if (!exited && !killed && ctl != NULL && ctl->cancel != NULL && atomic_load(ctl->cancel)) {
            r->cancelled = 1;
            deadline = now;
        }
        if (!exited && !killed && now >= deadline) {
            r->timed_out = !r->cancelled;
            kill(-pid, SIGTERM);
            killed = 1;
            kill_at = now + RUNNER_GRACE_MS;
        }
        if (!exited && killed == 1 && now >= kill_at) {
            kill(-pid, SIGKILL);
            killed = 2;
        }
        if (deadline > now && deadline < until)
            until = deadline;
        if (kill_at > now && kill_at < until)
            until = kill_at;
        if (poll(&p, 1, (int)(until - now)) < 0 && errno != EINTR)
            break;
        if (open && (p.revents & (POLLIN | POLLHUP))) {
            ssize_t n = read(pipefd[0], buf, sizeof(buf));
            if (n > 0)
                keep(r, max_output, buf, (size_t)n);
            else if (n == 0 || errno != EINTR)
                open = 0;
        }
    }
    close(pipefd[0]);
    /* Nothing of the task outlives it (after SIGKILL the wait is short). */
    kill(-pid, SIGKILL);
    if (!exited)
        waitpid(pid, &status, 0);
    r->duration_ms = ts_monotonic_ms() - t0;
    r->output[r->output_len] = '\0';
    if (WIFEXITED(status))
        r->exit_status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        r->term_signal = WTERMSIG(status);
    return 0;
}

void runner_result_free(runner_result_t *r)
{
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
}

int64_t runner_proc_start(pid_t pid)
{
    char path[64], buf[1024], state;
    unsigned long long start;
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) state ppid ... starttime": comm may hold spaces and
     * parentheses, so fields are counted from the last ')'. starttime is
     * field 22, the 20th after the state. */
    if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %c", &state) != 1)
        return -1;
    p += 2;
    for (int field = 3; field < 22; field++)
        if ((p = strchr(p + 1, ' ')) == NULL)
            return -1;
    if (sscanf(p, " %llu", &start) != 1)
        return -1;
    return state == 'Z' || state == 'X' ? -1 : (int64_t)start;
}

int runner_proc_alive(pid_t pid, int64_t proc_start)
{
    int64_t now = pid > 0 ? runner_proc_start(pid) : -1;

    return now >= 0 && (proc_start < 0 || now == proc_start);
}

int runner_kill_group(pid_t pgid, int64_t proc_start)
{
    int64_t leader;

    if (pgid <= 1)
        return 0;
    leader = runner_proc_start(pgid);
    /* A live process with the leader's pid but another start time: the pid
     * was reused, and Linux does not reuse a pid while a group of that id
     * has members, so the old group is gone. */
    if (leader >= 0 && proc_start >= 0 && leader != proc_start)
        return 0;
    return kill(-pgid, SIGKILL) == 0 ? 1 : 0;
}
