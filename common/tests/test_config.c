/*
 * test_config.c - unit tests for common/config.c: .env loading from temp
 * files (syntax table, malformed lines with their line number, precedence,
 * default and named files), the strict number parsers, the usage-error exit
 * of the flag helpers (in a child process) and config_env_str.
 * Every variable the tests set starts with ECOM_UT_ and is unset again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[PATH_MAX];

/* Writes content to tmpdir/name; returns the path in a static buffer. */
static const char *write_file(const char *name, const char *content)
{
    static char path[PATH_MAX + 64];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(content, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s", "/tmp/ecom_test_config_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    static const char *const names[] = {"all.env", "bad.env", "long.env",
                                        "limit.env", "named.env", ".env"};
    for (size_t i = 0; i < N_ELEMS(names); i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
}

/* One line of a .env file and what it should leave in the environment
 * (key NULL: the line sets nothing). */
static const struct {
    const char *line;
    const char *key;
    const char *want;
    int counts; /* 1 when this line sets a new variable */
} env_lines[] = {
    {"# a comment", NULL, NULL, 0},
    {"   # an indented comment", NULL, NULL, 0},
    {"", NULL, NULL, 0},
    {"  \t  ", NULL, NULL, 0},
    {"ECOM_UT_PLAIN=hello", "ECOM_UT_PLAIN", "hello", 1},
    {"export ECOM_UT_EXPORT=yes", "ECOM_UT_EXPORT", "yes", 1},
    {"export   ECOM_UT_EXPORT2 = spaced", "ECOM_UT_EXPORT2", "spaced", 1},
    {"ECOM_UT_DQ=\"double quoted\"", "ECOM_UT_DQ", "double quoted", 1},
    {"ECOM_UT_SQ='single quoted'", "ECOM_UT_SQ", "single quoted", 1},
    {"ECOM_UT_DQ_HASH=\"a # b\"", "ECOM_UT_DQ_HASH", "a # b", 1},
    {"ECOM_UT_SQ_DQ='say \"hi\"'", "ECOM_UT_SQ_DQ", "say \"hi\"", 1},
    {"ECOM_UT_DQ_SPACES=\"  padded  \"", "ECOM_UT_DQ_SPACES", "  padded  ", 1},
    {"ECOM_UT_DQ_TRAIL=\"quoted\" # trailing", "ECOM_UT_DQ_TRAIL", "quoted", 1},
    {"ECOM_UT_DQ_HASH_TRAIL=\"a # b\" # c", "ECOM_UT_DQ_HASH_TRAIL", "a # b", 1},
    {"ECOM_UT_SQ_TRAIL='x y'   # trailing", "ECOM_UT_SQ_TRAIL", "x y", 1},
    {"ECOM_UT_TRAIL=value # trailing comment", "ECOM_UT_TRAIL", "value", 1},
    {"ECOM_UT_TRAIL_TAB=value\t# after a tab", "ECOM_UT_TRAIL_TAB", "value", 1},
    {"ECOM_UT_HASH=abc#def", "ECOM_UT_HASH", "abc#def", 1},
    {"ECOM_UT_ONLY_COMMENT= # nothing", "ECOM_UT_ONLY_COMMENT", "", 1},
    {"  ECOM_UT_SPACES  =   spaced value   ", "ECOM_UT_SPACES", "spaced value", 1},
    {"ECOM_UT_EMPTY=", "ECOM_UT_EMPTY", "", 1},
    {"ECOM_UT_EMPTY_DQ=\"\"", "ECOM_UT_EMPTY_DQ", "", 1},
    {"ECOM_UT_EQ=a=b=c", "ECOM_UT_EQ", "a=b=c", 1},
    {"ECOM_UT_URL=postgresql://u:p@h:5432/db?sslmode=disable", "ECOM_UT_URL",
     "postgresql://u:p@h:5432/db?sslmode=disable", 1},
    {"ECOM_UT_APOS=it's", "ECOM_UT_APOS", "it's", 1},
    {"ECOM_UT_CRLF=dos\r", "ECOM_UT_CRLF", "dos", 1},
    {"ECOM_UT_lower_9=x", "ECOM_UT_lower_9", "x", 1},
    /* already in the environment: the file never overrides it */
    {"ECOM_UT_PRESET=from_file", "ECOM_UT_PRESET", "from_env", 0},
    {"ECOM_UT_PRESET_EMPTY=from_file", "ECOM_UT_PRESET_EMPTY", "", 0},
    /* so within one file the first assignment wins too */
    {"ECOM_UT_DUP=first", "ECOM_UT_DUP", "first", 1},
    {"ECOM_UT_DUP=second", "ECOM_UT_DUP", "first", 0},
};

static void unset_env_lines(void)
{
    for (size_t i = 0; i < N_ELEMS(env_lines); i++)
        if (env_lines[i].key != NULL)
            unsetenv(env_lines[i].key);
}

static void test_env_file_syntax(void **state)
{
    char content[8192] = "";
    char err[512] = "";
    int want_count = 0;
    const char *path;
    (void)state;

    unset_env_lines();
    setenv("ECOM_UT_PRESET", "from_env", 1);
    setenv("ECOM_UT_PRESET_EMPTY", "", 1);
    for (size_t i = 0; i < N_ELEMS(env_lines); i++) {
        strcat(content, env_lines[i].line);
        strcat(content, "\n");
        want_count += env_lines[i].counts;
    }
    path = write_file("all.env", content);
    assert_int_equal(config_load_env_file(path, err, sizeof(err)), want_count);
    for (size_t i = 0; i < N_ELEMS(env_lines); i++) {
        const char *got;

        if (env_lines[i].key == NULL)
            continue;
        got = getenv(env_lines[i].key);
        if (got == NULL || strcmp(got, env_lines[i].want) != 0)
            fail_msg("line %zu \"%s\": %s is \"%s\", want \"%s\"", i + 1,
                     env_lines[i].line, env_lines[i].key, got ? got : "(unset)",
                     env_lines[i].want);
    }
    /* A second load sets nothing new. */
    assert_int_equal(config_load_env_file(path, err, sizeof(err)), 0);
    unset_env_lines();
}

/* File contents with one malformed line and that line's number. */
static const struct {
    const char *content;
    int lineno;
} bad_files[] = {
    {"NOEQUALS\n", 1},
    {"ECOM_UT_A=1\n# comment\nNOEQUALS\nECOM_UT_B=2\n", 3},
    {"\n\n=value\n", 3},
    {"   =value\n", 1},
    {"ECOM_UT_A=1\nBAD KEY=x\n", 2},
    {"BAD-KEY=x\n", 1},
    {"BAD.KEY=x\n", 1},
    {"export =x\n", 1},
    {"export\n", 1},
    {"export ECOM_UT_A\n", 1},
    {"ECOM_UT_A=\"unterminated\n", 1},
    {"ECOM_UT_A='unterminated\n", 1},
    {"ECOM_UT_A='mixed\"\n", 1},
    {"ECOM_UT_A=\"a\" junk\n", 1},
    {"ECOM_UT_A=\"a\"#nospace\n", 1},
    {"ECOM_UT_A=\"a\"b\"\n", 1},
    {"# ok\nECOM_UT_A=1\nECOM_UT_B=2\n\nECOM_UT_C=3\n  nothing here\n", 6},
    {"ECOM_UT_A=1\nlast line without newline", 2},
};

static void test_env_file_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(bad_files); i++) {
        char err[512] = "";
        char want[PATH_MAX + 128];
        const char *path = write_file("bad.env", bad_files[i].content);
        int rc = config_load_env_file(path, err, sizeof(err));

        snprintf(want, sizeof(want), "%s:%d: malformed line (expected KEY=VALUE)",
                 path, bad_files[i].lineno);
        if (rc != -1 || strcmp(err, want) != 0)
            fail_msg("bad file %zu: rc %d, error \"%s\", want -1 and \"%s\"", i, rc,
                     err, want);
        unsetenv("ECOM_UT_A");
        unsetenv("ECOM_UT_B");
        unsetenv("ECOM_UT_C");
    }
}

/* Lines up to 4094 bytes load; longer ones are an error, not a silent split. */
static void test_env_file_long_line(void **state)
{
    char line[6000];
    char err[512] = "";
    char want[PATH_MAX + 128];
    const char *path;
    const char *got;
    (void)state;

    /* "ECOM_UT_LONG=" is 13 bytes: 13 + 4081 = 4094 */
    memset(line, 'v', sizeof(line));
    memcpy(line, "ECOM_UT_LONG=", 13);
    line[4094] = '\n';
    line[4095] = '\0';
    path = write_file("limit.env", line);
    unsetenv("ECOM_UT_LONG");
    assert_int_equal(config_load_env_file(path, err, sizeof(err)), 1);
    got = getenv("ECOM_UT_LONG");
    assert_non_null(got);
    assert_int_equal(strlen(got), 4081);
    unsetenv("ECOM_UT_LONG");

    memset(line, 'v', sizeof(line));
    memcpy(line, "# first\nECOM_UT_LONG=", 21);
    line[5500] = '\n';
    line[5501] = '\0';
    path = write_file("long.env", line);
    assert_int_equal(config_load_env_file(path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:2: line too long (limit 4094 bytes)", path);
    assert_string_equal(err, want);
    assert_null(getenv("ECOM_UT_LONG"));
}

static void test_env_file_default_and_named(void **state)
{
    char cwd[PATH_MAX];
    char err[512] = "";
    char want[PATH_MAX + 128];
    char missing[PATH_MAX + 64];
    const char *named;
    (void)state;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    unsetenv("ECOM_ENV_FILE");
    unsetenv("ECOM_UT_DEFAULT");
    unsetenv("ECOM_UT_NAMED");

    /* no ./.env and no ECOM_ENV_FILE: nothing to do, not an error */
    assert_int_equal(config_load_env_file(NULL, err, sizeof(err)), 0);
    /* ECOM_ENV_FILE set but empty counts as unset */
    setenv("ECOM_ENV_FILE", "", 1);
    assert_int_equal(config_load_env_file(NULL, err, sizeof(err)), 0);
    unsetenv("ECOM_ENV_FILE");

    /* a missing file that was named is an error, by argument or by env */
    snprintf(missing, sizeof(missing), "%s/does-not-exist.env", tmpdir);
    assert_int_equal(config_load_env_file(missing, err, sizeof(err)), -1);
    snprintf(want, sizeof(want),
             "could not open env file \"%s\": No such file or directory", missing);
    assert_string_equal(err, want);
    setenv("ECOM_ENV_FILE", missing, 1);
    err[0] = '\0';
    assert_int_equal(config_load_env_file(NULL, err, sizeof(err)), -1);
    assert_string_equal(err, want);
    unsetenv("ECOM_ENV_FILE");

    /* ./.env is the default */
    write_file(".env", "ECOM_UT_DEFAULT=from_dot_env\n");
    assert_int_equal(config_load_env_file(NULL, err, sizeof(err)), 1);
    assert_string_equal(getenv("ECOM_UT_DEFAULT"), "from_dot_env");

    /* ECOM_ENV_FILE replaces ./.env */
    unsetenv("ECOM_UT_DEFAULT");
    named = write_file("named.env", "ECOM_UT_NAMED=from_named\n");
    setenv("ECOM_ENV_FILE", named, 1);
    assert_int_equal(config_load_env_file(NULL, err, sizeof(err)), 1);
    assert_string_equal(getenv("ECOM_UT_NAMED"), "from_named");
    assert_null(getenv("ECOM_UT_DEFAULT"));

    /* an explicit path beats ECOM_ENV_FILE */
    unsetenv("ECOM_UT_NAMED");
    assert_int_equal(config_load_env_file(".env", err, sizeof(err)), 1);
    assert_string_equal(getenv("ECOM_UT_DEFAULT"), "from_dot_env");
    assert_null(getenv("ECOM_UT_NAMED"));

    unsetenv("ECOM_ENV_FILE");
    unsetenv("ECOM_UT_DEFAULT");
    assert_int_equal(chdir(cwd), 0);
}

static const struct {
    const char *text;
    int64_t min, max;
    int rc;
    int64_t want;
} int64_cases[] = {
    {"0", INT64_MIN, INT64_MAX, 0, 0},
    {"42", INT64_MIN, INT64_MAX, 0, 42},
    {"-42", INT64_MIN, INT64_MAX, 0, -42},
    {"+7", INT64_MIN, INT64_MAX, 0, 7},
    {"007", INT64_MIN, INT64_MAX, 0, 7}, /* decimal, not octal */
    {"9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX},
    {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN},
    {"9223372036854775808", INT64_MIN, INT64_MAX, -1, 0},   /* overflow */
    {"-9223372036854775809", INT64_MIN, INT64_MAX, -1, 0},  /* overflow */
    {"99999999999999999999", INT64_MIN, INT64_MAX, -1, 0},
    {"", INT64_MIN, INT64_MAX, -1, 0},
    {" 1", INT64_MIN, INT64_MAX, -1, 0},
    {"\t1", INT64_MIN, INT64_MAX, -1, 0},
    {"1 ", INT64_MIN, INT64_MAX, -1, 0},
    {"1x", INT64_MIN, INT64_MAX, -1, 0},
    {"x1", INT64_MIN, INT64_MAX, -1, 0},
    {"-", INT64_MIN, INT64_MAX, -1, 0},
    {"+", INT64_MIN, INT64_MAX, -1, 0},
    {"1.5", INT64_MIN, INT64_MAX, -1, 0},
    {"1e3", INT64_MIN, INT64_MAX, -1, 0},
    {"0x10", INT64_MIN, INT64_MAX, -1, 0},
    {"nan", INT64_MIN, INT64_MAX, -1, 0},
    /* range bounds are inclusive */
    {"1", 1, 10, 0, 1},
    {"10", 1, 10, 0, 10},
    {"0", 1, 10, -1, 0},
    {"11", 1, 10, -1, 0},
    {"-1", 0, INT64_MAX, -1, 0},
    {"-5", -5, -5, 0, -5},
};

static void test_parse_int64(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(int64_cases); i++) {
        int64_t got = 12345;
        int rc = config_parse_int64(int64_cases[i].text, int64_cases[i].min,
                                    int64_cases[i].max, &got);
        int64_t want = int64_cases[i].rc == 0 ? int64_cases[i].want : 12345;

        if (rc != int64_cases[i].rc || got != want)
            fail_msg("int64 case %zu \"%s\" [%" PRId64 ", %" PRId64 "]: rc %d got %" PRId64
                     ", want rc %d got %" PRId64,
                     i, int64_cases[i].text, int64_cases[i].min, int64_cases[i].max, rc,
                     got, int64_cases[i].rc, want);
    }
    {
        int64_t got = 12345;
        assert_int_equal(config_parse_int64(NULL, 0, 10, &got), -1);
        assert_int_equal(got, 12345);
    }
}

static const struct {
    const char *text;
    double min, max;
    int rc;
    double want;
} double_cases[] = {
    {"0", -1e9, 1e9, 0, 0.0},
    {"1.5", -1e9, 1e9, 0, 1.5},
    {"-0.25", -1e9, 1e9, 0, -0.25},
    {"+2", -1e9, 1e9, 0, 2.0},
    {"1e3", -1e9, 1e9, 0, 1000.0},
    {".5", -1e9, 1e9, 0, 0.5},
    {"5.", -1e9, 1e9, 0, 5.0},
    {"", -1e9, 1e9, -1, 0},
    {" 1", -1e9, 1e9, -1, 0},
    {"1 ", -1e9, 1e9, -1, 0},
    {"1x", -1e9, 1e9, -1, 0},
    {"1.5.2", -1e9, 1e9, -1, 0},
    {"abc", -1e9, 1e9, -1, 0},
    {"-", -1e9, 1e9, -1, 0},
    {"nan", -1e9, 1e9, -1, 0},
    {"NaN", -1e9, 1e9, -1, 0},
    {"-nan", -1e9, 1e9, -1, 0},
    {"inf", -1e9, 1e9, -1, 0},
    {"-inf", -1e9, 1e9, -1, 0},
    {"infinity", -INFINITY, INFINITY, -1, 0},
    {"1e999", -INFINITY, INFINITY, -1, 0}, /* overflow */
    {"-1e999", -INFINITY, INFINITY, -1, 0},
    /* range bounds are inclusive */
    {"0", 0.0, 1.0, 0, 0.0},
    {"1", 0.0, 1.0, 0, 1.0},
    {"1.0000001", 0.0, 1.0, -1, 0},
    {"-0.0000001", 0.0, 1.0, -1, 0},
    {"100.5", 0.0, 100.0, -1, 0},
};

static void test_parse_double(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(double_cases); i++) {
        double got = 12345.0;
        int rc = config_parse_double(double_cases[i].text, double_cases[i].min,
                                     double_cases[i].max, &got);
        double want = double_cases[i].rc == 0 ? double_cases[i].want : 12345.0;

        if (rc != double_cases[i].rc || got != want)
            fail_msg("double case %zu \"%s\" [%g, %g]: rc %d got %g, want rc %d got %g",
                     i, double_cases[i].text, double_cases[i].min, double_cases[i].max,
                     rc, got, double_cases[i].rc, want);
    }
    {
        double got = 12345.0;
        assert_int_equal(config_parse_double(NULL, 0, 10, &got), -1);
        assert_true(got == 12345.0);
    }
}

static void test_flag_ok(void **state)
{
    (void)state;
    assert_int_equal(config_flag_int64("25", 1, 100, "-r/--rate"), 25);
    assert_true(config_flag_double("0.5", 0.0, 1.0, "-f/--fraction") == 0.5);
}

enum { FLAG_INT64, FLAG_DOUBLE, USAGE_ERROR };

/* Runs one failing flag helper in a child; returns its exit status and
 * copies what it wrote to stdout and stderr. */
static int run_child(int which, const char *text, char *out, size_t outsize,
                     char *err, size_t errsize)
{
    int out_pipe[2], err_pipe[2];
    int status = 0;
    pid_t pid;
    ssize_t n;

    assert_int_equal(pipe(out_pipe), 0);
    assert_int_equal(pipe(err_pipe), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(err_pipe[1], STDERR_FILENO);
        close(out_pipe[0]);
        close(err_pipe[0]);
        config_set_progname("ecom-test");
        if (which == FLAG_INT64)
            config_flag_int64(text, 1, 100, "-r/--rate");
        else if (which == FLAG_DOUBLE)
            config_flag_double(text, 0.0, 1.0, "-f/--fraction");
        else
            config_usage_error("option %s needs %s", "-t/--topic", "a value");
        _exit(0); /* not reached when the helper exits */
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    n = read(out_pipe[0], out, outsize - 1);
    out[n > 0 ? n : 0] = '\0';
    /* stderr is small (two lines): one read after the child exits */
    assert_int_equal(waitpid(pid, &status, 0), pid);
    n = read(err_pipe[0], err, errsize - 1);
    err[n > 0 ? n : 0] = '\0';
    close(out_pipe[0]);
    close(err_pipe[0]);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static const struct {
    int which;
    const char *text;
    const char *want_err;
} usage_cases[] = {
    {FLAG_INT64, "abc",
     "ecom-test: invalid value \"abc\" for option -r/--rate (expected an integer from 1 to 100)\n"
     "Try \"ecom-test --help\" for more information.\n"},
    {FLAG_INT64, "101",
     "ecom-test: invalid value \"101\" for option -r/--rate (expected an integer from 1 to 100)\n"
     "Try \"ecom-test --help\" for more information.\n"},
    {FLAG_INT64, "",
     "ecom-test: invalid value \"\" for option -r/--rate (expected an integer from 1 to 100)\n"
     "Try \"ecom-test --help\" for more information.\n"},
    {FLAG_DOUBLE, "nan",
     "ecom-test: invalid value \"nan\" for option -f/--fraction (expected a number from 0 to 1)\n"
     "Try \"ecom-test --help\" for more information.\n"},
    {FLAG_DOUBLE, "1.5",
     "ecom-test: invalid value \"1.5\" for option -f/--fraction (expected a number from 0 to 1)\n"
     "Try \"ecom-test --help\" for more information.\n"},
    {USAGE_ERROR, NULL,
     "ecom-test: option -t/--topic needs a value\n"
     "Try \"ecom-test --help\" for more information.\n"},
};

static void test_usage_errors_exit_2(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(usage_cases); i++) {
        char out[256], err[1024];
        int code = run_child(usage_cases[i].which, usage_cases[i].text, out,
                             sizeof(out), err, sizeof(err));

        if (code != CONFIG_EXIT_USAGE || out[0] != '\0' ||
            strcmp(err, usage_cases[i].want_err) != 0)
            fail_msg("usage case %zu: exit %d, stdout \"%s\", stderr \"%s\"", i, code,
                     out, err);
    }
}

static void test_env_str_and_progname(void **state)
{
    (void)state;
    unsetenv("ECOM_UT_STR");
    assert_string_equal(config_env_str("ECOM_UT_STR", "def"), "def");
    assert_null(config_env_str("ECOM_UT_STR", NULL));
    setenv("ECOM_UT_STR", "", 1);
    assert_string_equal(config_env_str("ECOM_UT_STR", "def"), "def");
    setenv("ECOM_UT_STR", "value", 1);
    assert_string_equal(config_env_str("ECOM_UT_STR", "def"), "value");
    unsetenv("ECOM_UT_STR");

    assert_string_equal(config_progname(), "ecom");
    config_set_progname("ecom-stream");
    assert_string_equal(config_progname(), "ecom-stream");
    config_set_progname("a-very-long-program-name-that-does-not-fit-into-sixty-four-bytes-at-all");
    assert_int_equal(strlen(config_progname()), 63);
    config_set_progname("ecom");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_file_syntax),
        cmocka_unit_test(test_env_file_malformed),
        cmocka_unit_test(test_env_file_long_line),
        cmocka_unit_test(test_env_file_default_and_named),
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_flag_ok),
        cmocka_unit_test(test_usage_errors_exit_2),
        cmocka_unit_test(test_env_str_and_progname),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
