/*
 * test_lake.c - the data lake's atomic files (common/lake.c) in a temporary
 * directory: plain and gzipped content, replacing a file, aborting, bad
 * paths, and the promise that nothing but whole files ever has a name.
 */
#include "lake.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

static char root[256];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/ecom-test-lake-XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t read_file(const char *rel, char *out, size_t cap)
{
    char path[512];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    n = fread(out, 1, cap, fp);
    fclose(fp);
    return n;
}

/* The names in a directory of the lake, dot files included. */
static int count_entries(const char *rel)
{
    char path[512];
    struct dirent *de;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    assert_non_null(d = opendir(path));
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void write_file(const char *rel, int level, const char *text)
{
    char err[256];
    lake_file_t *f = lake_open(root, rel, level, err, sizeof(err));
    int64_t bytes = -1;

    assert_non_null(f);
    assert_int_equal(lake_write(f, text, strlen(text)), 0);
    assert_int_equal(lake_commit(f, &bytes, err, sizeof(err)), 0);
    assert_true(bytes >= 0);
}

static void test_plain_file_and_directories(void **state)
{
    char buf[64];
    (void)state;
    write_file("aggregated/job/2026-12-01.csv", 0, "a,b\n1,2\n");
    assert_int_equal(read_file("aggregated/job/2026-12-01.csv", buf, sizeof(buf)), 8);
    assert_memory_equal(buf, "a,b\n1,2\n", 8);
    assert_int_equal(count_entries("aggregated/job"), 1);
}

static void test_gzip_round_trip_and_same_bytes(void **state)
{
    char a[4096], b[4096], path[512], out[256];
    size_t na, nb;
    gzFile gz;
    int n;
    (void)state;

    write_file("raw/t/dt=2026-12-01/hr=10.jsonl.gz", 1, "{\"a\":1}\n{\"a\":2}\n");
    na = read_file("raw/t/dt=2026-12-01/hr=10.jsonl.gz", a, sizeof(a));
    assert_true(na > 10);
    assert_int_equal((unsigned char)a[0], 0x1f);
    assert_int_equal((unsigned char)a[1], 0x8b);
    /* No time in the header: rewriting gives the same bytes. */
    write_file("raw/t/dt=2026-12-01/hr=10.jsonl.gz", 1, "{\"a\":1}\n{\"a\":2}\n");
    nb = read_file("raw/t/dt=2026-12-01/hr=10.jsonl.gz", b, sizeof(b));
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    snprintf(path, sizeof(path), "%s/raw/t/dt=2026-12-01/hr=10.jsonl.gz", root);
    assert_non_null(gz = gzopen(path, "rb"));
    n = gzread(gz, out, sizeof(out));
    gzclose(gz);
    assert_int_equal(n, 16);
    assert_memory_equal(out, "{\"a\":1}\n{\"a\":2}\n", 16);
    assert_int_equal(count_entries("raw/t/dt=2026-12-01"), 1);
}

static void test_large_gzip(void **state)
{
    static char line[] = "{\"event_id\":\"3f1c\",\"user_id\":\"U0001\",\"price\":12.50}\n";
    char err[256], path[512], *out;
    lake_file_t *f;
    gzFile gz;
    long total = 0;
    int n;
    (void)state;

    assert_non_null(f = lake_open(root, "big.jsonl.gz", 1, err, sizeof(err)));
    for (int i = 0; i < 100000; i++)
        assert_int_equal(lake_write(f, line, sizeof(line) - 1), 0);
    assert_int_equal(lake_commit(f, NULL, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/big.jsonl.gz", root);
    assert_non_null(out = malloc(1 << 20));
    assert_non_null(gz = gzopen(path, "rb"));
    while ((n = gzread(gz, out, 1 << 20)) > 0)
        total += n;
    gzclose(gz);
    free(out);
    assert_int_equal(total, 100000L * (long)(sizeof(line) - 1));
}

static void test_replace_keeps_old_until_commit(void **state)
{
    char err[256], buf[64];
    lake_file_t *f;
    (void)state;

    write_file("x.csv", 0, "old\n");
    assert_non_null(f = lake_open(root, "x.csv", 0, err, sizeof(err)));
    assert_int_equal(lake_write(f, "new\n", 4), 0);
    /* Written but not committed: the name still holds the old file, and
     * nothing else has a name. */
    assert_int_equal(read_file("x.csv", buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "old\n", 4);
    assert_int_equal(count_entries("."), 1);
    assert_int_equal(lake_commit(f, NULL, err, sizeof(err)), 0);
    assert_int_equal(read_file("x.csv", buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "new\n", 4);
    assert_int_equal(count_entries("."), 1);
}

static void test_abort_leaves_nothing(void **state)
{
    char err[256];
    lake_file_t *f;
    (void)state;

    assert_non_null(f = lake_open(root, "d/y.csv", 1, err, sizeof(err)));
    assert_int_equal(lake_write(f, "half", 4), 0);
    lake_abort(f);
    assert_int_equal(count_entries("d"), 0);
    lake_abort(NULL);
}

static void test_bad_paths(void **state)
{
    static const char *const bad[] = {"/etc/x", "", "a/../b", "../x", "a//b", "./x", "a/"};
    char err[256];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(lake_open(root, bad[i], 0, err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_file_and_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_round_trip_and_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_keeps_old_until_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
