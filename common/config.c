/*
 * config.c - .env loading, strict number parsing, usage errors (see config.h).
 * Owns only the program name buffer.
 */
#include "config.h"
#include "elog.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char progname[64] = "ecom";

void config_set_progname(const char *name)
{
    snprintf(progname, sizeof(progname), "%s", name);
}

const char *config_progname(void) { return progname; }

const char *config_env_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : def;
}

char *config_trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Cuts an unquoted value at a trailing comment: a '#' at the start or after
 * whitespace ("KEY=a # note"); "KEY=a#b" keeps its '#'. */
static void cut_comment(char *value)
{
    for (char *c = value; *c; c++) {
        if (*c == '#' && (c == value || isspace((unsigned char)c[-1]))) {
            *c = '\0';
            return;
        }
    }
}

/* Parses one .env line in place. Returns 1 with key/value set, 0 for a
 * blank or comment line, -1 for a malformed line. */
static int parse_env_line(char *line, char **key, char **value)
{
    char *s = config_trim(line);
    char *eq;

    if (*s == '\0' || *s == '#')
        return 0;
    if (strncmp(s, "export ", 7) == 0)
        s = config_trim(s + 7);
    eq = strchr(s, '=');
    if (eq == NULL || eq == s)
        return -1;
    *eq = '\0';
    *key = config_trim(s);
    for (char *k = *key; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '_')
            return -1;
    *value = config_trim(eq + 1);
    if (**value == '"' || **value == '\'') {
        /* Quoted: the value runs to the matching quote, which may only be
         * followed by blanks or a comment ("KEY="a # b" # note"). */
        char *close = strchr(*value + 1, **value);
        char *rest;

        if (close == NULL)
            return -1;
        rest = close + 1;
        while (isspace((unsigned char)*rest))
            rest++;
        if (*rest != '\0' && (*rest != '#' || rest == close + 1))
            return -1;
        *close = '\0';
        (*value)++;
    } else {
        cut_comment(*value);
        *value = config_trim(*value);
    }
    return 1;
}

int config_load_env_file(const char *path, char *errbuf, size_t errsize)
{
    const char *named = path != NULL ? path : config_env_str("ECOM_ENV_FILE", NULL);
    const char *file = named != NULL ? named : ".env";
    FILE *fp = NULL;
    char line[4096];
    int lineno = 0;
    int set = 0;

    fp = fopen(file, "r");
    if (fp == NULL) {
        if (named == NULL && errno == ENOENT)
            return 0;
        snprintf(errbuf, errsize, "could not open env file \"%s\": %s", file,
                 strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *key = NULL, *value = NULL;
        int r;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(fp)) {
            snprintf(errbuf, errsize, "%s:%d: line too long (limit %zu bytes)",
                     file, lineno, sizeof(line) - 2);
            set = -1;
            goto out;
        }
        r = parse_env_line(line, &key, &value);
        if (r < 0) {
            snprintf(errbuf, errsize, "%s:%d: malformed line (expected KEY=VALUE)",
                     file, lineno);
            set = -1;
            goto out;
        }
        if (r == 1 && getenv(key) == NULL) {
            setenv(key, value, 0);
            set++;
        }
    }
out:
    fclose(fp);
    return set;
}

int config_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (text == NULL || *text == '\0' || isspace((unsigned char)*text))
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int config_parse_double(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    if (text == NULL || *text == '\0' || isspace((unsigned char)*text))
        return -1;
    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void config_usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
    exit(CONFIG_EXIT_USAGE);
}

int64_t config_flag_int64(const char *text, int64_t min, int64_t max,
                          const char *opt)
{
    int64_t v = 0;
    if (config_parse_int64(text, min, max, &v) != 0)
        config_usage_error("invalid value \"%s\" for option %s (expected an integer from %lld to %lld)",
                           text, opt, (long long)min, (long long)max);
    return v;
}

double config_flag_double(const char *text, double min, double max,
                          const char *opt)
{
    double v = 0;
    if (config_parse_double(text, min, max, &v) != 0)
        config_usage_error("invalid value \"%s\" for option %s (expected a number from %g to %g)",
                           text, opt, min, max);
    return v;
}

void config_start(const char *name)
{
    char errbuf[512];

    config_set_progname(name);
    elog_init(name);
    if (config_load_env_file(NULL, errbuf, sizeof(errbuf)) < 0)
        config_usage_error("%s", errbuf);
    elog_init(name);
}

void config_getopt_error(int c, char **argv)
{
    if (c == ':')
        config_usage_error("option %s requires a value", argv[optind - 1]);
    if (optopt != 0) /* a short option, possibly inside a group like -xq */
        config_usage_error("invalid option \"-%c\"", optopt);
    config_usage_error("invalid option \"%s\"", argv[optind - 1]);
}
