/*
 * lake.c - atomic, optionally gzipped files of the data lake (see lake.h).
 */
#include "lake.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>

/* gzip: the input is cut into chunks of this size, each compressed as a
 * gzip member of its own (libdeflate, whole-buffer) by a thread of the
 * file's while the caller fills the next chunk: the compression of one
 * chunk overlaps the making of the next. */
#define LAKE_GZ_CHUNK (4 * 1024 * 1024)

struct lake_file {
    int dirfd;                /* the final directory */
    int fd;                   /* the file being written */
    int named;                /* 1: fallback, written as tmpname */
    char name[NAME_MAX + 1];  /* final name in dirfd */
    char tmpname[NAME_MAX + 1];
    int64_t bytes;            /* bytes written to fd (by the thread, with gzip) */
    char error[256];          /* first failure, "" if none */
    /* gzip */
    struct libdeflate_compressor *gz; /* NULL: written as it comes */
    unsigned char *in[2];     /* chunks of LAKE_GZ_CHUNK bytes */
    size_t in_len[2];
    int fill;                 /* the chunk the caller fills */
    long chunks;              /* chunks handed over so far */
    unsigned char *out;       /* the thread's compressed chunk */
    size_t out_cap;
    pthread_t thread;
    int gz_sync;              /* lock and cond initialized */
    int thread_started;
    pthread_mutex_t lock;     /* guards busy, closing, gz_error, fill */
    pthread_cond_t cond;
    int busy;                 /* in[1 - fill] is the thread's */
    int closing;              /* no more chunks: the thread ends */
    char gz_error[256];       /* the thread's first failure */
};

static void set_error(lake_file_t *f, const char *what)
{
    if (f->error[0] == '\0')
        snprintf(f->error, sizeof(f->error), "%s %s: %s", what, f->name, strerror(errno));
}

/* Returns 0, or -1 with errno set. */
static int write_all(lake_file_t *f, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(f->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        f->bytes += n;
    }
    return 0;
}

/* The compressor thread: each handed chunk becomes a gzip member. */
static void *compressor_main(void *arg)
{
    lake_file_t *f = arg;

    pthread_mutex_lock(&f->lock);
    for (;;) {
        int idx;
        size_t n;
        char err[sizeof(f->gz_error)] = "";

        while (!f->busy && !f->closing)
            pthread_cond_wait(&f->cond, &f->lock);
        if (!f->busy)
            break;
        idx = 1 - f->fill;
        pthread_mutex_unlock(&f->lock);
        n = libdeflate_gzip_compress(f->gz, f->in[idx], f->in_len[idx], f->out, f->out_cap);
        if (n == 0)
            snprintf(err, sizeof(err), "compressing %s failed", f->name);
        else if (write_all(f, f->out, n) != 0)
            snprintf(err, sizeof(err), "writing %s: %s", f->name, strerror(errno));
        pthread_mutex_lock(&f->lock);
        if (err[0] != '\0' && f->gz_error[0] == '\0')
            memcpy(f->gz_error, err, sizeof(err));
        f->busy = 0;
        pthread_cond_broadcast(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* Hands the chunk being filled to the thread (after the previous one is
 * done) and starts filling the other. Returns 0, or -1 after a failure of
 * the thread's (copied to f->error). */
static int hand_off(lake_file_t *f)
{
    int rc = 0;

    pthread_mutex_lock(&f->lock);
    while (f->busy)
        pthread_cond_wait(&f->cond, &f->lock);
    if (f->gz_error[0] != '\0') {
        snprintf(f->error, sizeof(f->error), "%s", f->gz_error);
        rc = -1;
    } else {
        f->busy = 1;
        f->fill = 1 - f->fill;
        f->in_len[f->fill] = 0;
        f->chunks++;
        pthread_cond_signal(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* Ends the thread once it has written what it was handed. */
static void stop_compressor(lake_file_t *f)
{
    if (!f->thread_started)
        return;
    pthread_mutex_lock(&f->lock);
    f->closing = 1;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    f->thread_started = 0;
    if (f->gz_error[0] != '\0' && f->error[0] == '\0')
        snprintf(f->error, sizeof(f->error), "%s", f->gz_error);
}

/* Opens (creating) every directory of relpath below root, one at a time,
 * so that no component can be "..". Returns the last one's fd, or -1. */
static int open_dirs(const char *root, const char *relpath, char *leaf, char *err, size_t errsize)
{
    char part[NAME_MAX + 1];
    const char *p = relpath, *slash;
    int fd, next;

    if (relpath[0] == '/' || relpath[0] == '\0') {
        snprintf(err, errsize, "lake path \"%s\" is not relative", relpath);
        return -1;
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errsize, "creating %s: %s", root, strerror(errno));
        return -1;
    }
    if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errsize, "opening %s: %s", root, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t n;
        slash = strchr(p, '/');
        n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            snprintf(err, errsize, "lake path \"%s\" has a bad component", relpath);
            close(fd);
            return -1;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        if (slash == NULL) {
            memcpy(leaf, part, n + 1);
            return fd;
        }
        if (mkdirat(fd, part, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errsize, "creating %s/%.*s: %s", root, (int)(slash - relpath), relpath,
                     strerror(errno));
            close(fd);
            return -1;
        }
        next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        if (next < 0) {
            snprintf(err, errsize, "opening %s/%.*s: %s", root, (int)(slash - relpath), relpath,
                     strerror(errno));
            return -1;
        }
        fd = next;
        p = slash + 1;
    }
}

/* The fallback's temporary file: ".<name>.XXXXXX" beside the final one
 * (mkostemp, by path: the directory of relpath below root). */
static int open_named(lake_file_t *f, const char *root, const char *relpath)
{
    const char *slash = strrchr(relpath, '/');
    char path[PATH_MAX];
    int dir = slash ? (int)(slash - relpath) : 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/%.*s%s.%.200s.XXXXXX", root, dir, relpath,
                         slash ? "/" : "", f->name) >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((f->fd = mkostemp(path, O_CLOEXEC)) < 0)
        return -1;
    snprintf(f->tmpname, sizeof(f->tmpname), "%s", strrchr(path, '/') + 1);
    fchmod(f->fd, 0644); /* mkostemp's 0600 is for secrets; lake files are to be read */
    return f->fd;
}

lake_file_t *lake_open(const char *root, const char *relpath, int gzip_level, char *err,
                       size_t errsize)
{
    lake_file_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    f->fd = -1;
    f->dirfd = open_dirs(root, relpath, f->name, err, errsize);
    if (f->dirfd < 0)
        goto fail;
    f->fd = openat(f->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (f->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        f->named = 1;
        open_named(f, root, relpath);
    }
    if (f->fd < 0) {
        snprintf(err, errsize, "creating a file in %s for %s: %s", root, relpath, strerror(errno));
        goto fail;
    }
    if (gzip_level > 0) {
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->cond, NULL);
        f->gz_sync = 1;
        f->gz = libdeflate_alloc_compressor(gzip_level > 12 ? 12 : gzip_level);
        f->out_cap = f->gz ? libdeflate_gzip_compress_bound(f->gz, LAKE_GZ_CHUNK) : 0;
        f->in[0] = malloc(LAKE_GZ_CHUNK);
        f->in[1] = malloc(LAKE_GZ_CHUNK);
        f->out = malloc(f->out_cap ? f->out_cap : 1);
        if (f->gz == NULL || f->in[0] == NULL || f->in[1] == NULL || f->out == NULL) {
            snprintf(err, errsize, "starting gzip for %s: out of memory", relpath);
            goto fail;
        }
        if (pthread_create(&f->thread, NULL, compressor_main, f) != 0) {
            snprintf(err, errsize, "starting gzip for %s: no thread", relpath);
            goto fail;
        }
        f->thread_started = 1;
    }
    return f;
fail:
    lake_abort(f);
    return NULL;
}

int lake_write(lake_file_t *f, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (f->error[0] != '\0')
        return -1;
    if (f->gz == NULL) {
        if (write_all(f, p, len) == 0)
            return 0;
        set_error(f, "writing");
        return -1;
    }
    while (len > 0) {
        size_t n = LAKE_GZ_CHUNK - f->in_len[f->fill];
        if (n > len)
            n = len;
        memcpy(f->in[f->fill] + f->in_len[f->fill], p, n);
        f->in_len[f->fill] += n;
        p += n;
        len -= n;
        if (f->in_len[f->fill] == LAKE_GZ_CHUNK && hand_off(f) != 0)
            return -1;
    }
    return 0;
}

/* Puts the finished file in place under its name. */
static int publish(lake_file_t *f)
{
    char proc[64];

    if (!f->named) {
        /* linkat() refuses an existing name: link under a hidden one, then
         * rename over the final name. */
        if ((size_t)snprintf(f->tmpname, sizeof(f->tmpname), ".%.200s.%ld.lnk", f->name,
                             (long)getpid()) >= sizeof(f->tmpname)) {
            errno = ENAMETOOLONG;
            set_error(f, "naming");
            return -1;
        }
        unlinkat(f->dirfd, f->tmpname, 0);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
        if (linkat(AT_FDCWD, proc, f->dirfd, f->tmpname, AT_SYMLINK_FOLLOW) != 0) {
            set_error(f, "linking");
            return -1;
        }
        f->named = 1;
    }
    if (renameat(f->dirfd, f->tmpname, f->dirfd, f->name) != 0) {
        set_error(f, "renaming");
        return -1;
    }
    f->named = 0; /* nothing left to remove */
    if (fsync(f->dirfd) != 0) {
        set_error(f, "syncing the directory of");
        return -1;
    }
    return 0;
}

int lake_commit(lake_file_t *f, int64_t *bytes, char *err, size_t errsize)
{
    int rc = -1;

    /* The last chunk, or one empty member: an empty file is still gzip. */
    if (f->error[0] == '\0' && f->gz != NULL && (f->in_len[f->fill] > 0 || f->chunks == 0))
        hand_off(f);
    stop_compressor(f);
    if (f->error[0] == '\0') {
        if (fsync(f->fd) != 0)
            set_error(f, "syncing");
        else if (publish(f) == 0)
            rc = 0;
    }
    if (rc != 0)
        snprintf(err, errsize, "%s", f->error);
    if (bytes != NULL)
        *bytes = f->bytes;
    lake_abort(f);
    return rc;
}

void lake_abort(lake_file_t *f)
{
    if (f == NULL)
        return;
    stop_compressor(f);
    if (f->gz_sync) {
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
    }
    libdeflate_free_compressor(f->gz);
    free(f->in[0]);
    free(f->in[1]);
    free(f->out);
    if (f->fd >= 0)
        close(f->fd);
    if (f->named && f->dirfd >= 0)
        unlinkat(f->dirfd, f->tmpname, 0);
    if (f->dirfd >= 0)
        close(f->dirfd);
    free(f);
}
