/*
 * rules.c - the rule file (see rules.h), on common/ini.c's lines.
 */
#include "rules.h"
#include "config.h"
#include "ini.h"
#include "sample.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DURATION_MS (30LL * 86400000)
#define MAX_LABELS 16

static const char *const kind_names[RULE_KINDS] = {
    "consumer_lag", "stream_down", "dead_letters", "freshness",
    "quality_failed", "task_failed", "fraud", "low_stock",
};

const char *rules_kind_name(rule_kind_t k) { return k < RULE_KINDS ? kind_names[k] : "?"; }

static int fail(char *err, size_t errsize, const char *name, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(char *err, size_t errsize, const char *name, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, errsize, "%s:%d: ", name, line);

    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errsize)
        vsnprintf(err + n, errsize - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* "k=v, k2=v2" into canonical JSON; the rule name and severity are added
 * by the caller at delivery. 0, or -1 with why. */
static int parse_labels(char *v, char *out, size_t size, const char **why)
{
    const char *keys[MAX_LABELS], *vals[MAX_LABELS];
    char *save = NULL, *json;
    size_t n = 0;

    for (char *p = strtok_r(v, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '=');

        if (eq == NULL || n == MAX_LABELS)
            return *why = eq == NULL ? "labels: expected NAME=VALUE, ..." : "labels: at most 16", -1;
        *eq = '\0';
        keys[n] = config_trim(p);
        vals[n] = config_trim(eq + 1);
        if (!ini_valid_name(keys[n], 64) || strchr(keys[n], '-') != NULL || strchr(keys[n], '.') != NULL)
            return *why = "labels: a label name is letters, digits and _", -1;
        n++;
    }
    json = smp_labels(n, keys, vals);
    if (json == NULL || strlen(json) >= size) {
        free(json);
        return *why = "labels: too long", -1;
    }
    snprintf(out, size, "%s", json);
    free(json);
    return 0;
}

/* A whole value "${NAME:-default}" (or "${NAME}") is the environment
 * variable NAME when set and not empty, else the default: how one rule
 * file serves a shell and the docker-compose stack. Returns v, or a
 * pointer into scratch. */
static char *expand(char *v, char *scratch, size_t size)
{
    size_t n = strlen(v);
    char *sep, *val;

    if (n < 4 || strncmp(v, "${", 2) != 0 || v[n - 1] != '}')
        return v;
    snprintf(scratch, size, "%.*s", (int)(n - 3), v + 2);
    sep = strstr(scratch, ":-");
    if (sep != NULL)
        *sep = '\0';
    val = getenv(scratch);
    if (val != NULL && val[0] != '\0')
        return val;
    return sep != NULL ? sep + 2 : scratch + strlen(scratch);
}

static int rule_key(rule_t *r, const char *k, char *v, const char **why, int *has_kind)
{
    char scratch[600];

    v = expand(v, scratch, sizeof(scratch));
    if (strcmp(k, "kind") == 0) {
        for (int i = 0; i < RULE_KINDS; i++)
            if (strcmp(v, kind_names[i]) == 0) {
                r->kind = (rule_kind_t)i;
                *has_kind = 1;
                return 0;
            }
        return *why = "kind: unknown (consumer_lag, stream_down, dead_letters, freshness, quality_failed, "
                      "task_failed, fraud, low_stock)", -1;
    }
    if (strcmp(k, "threshold") == 0)
        return config_parse_double(v, 0, 1e15, &r->threshold) == 0 ? 0 : (*why = "threshold: a number >= 0", -1);
    if (strcmp(k, "for") == 0)
        return ini_duration_ms(v, MAX_DURATION_MS, &r->for_ms) == 0 ? 0 : (*why = "for: a duration (30s, 5m, 1h)", -1);
    if (strcmp(k, "repeat") == 0) {
        if (ini_duration_ms(v, MAX_DURATION_MS, &r->repeat_ms) != 0 || r->repeat_ms < 1000)
            return *why = "repeat: a duration of at least 1s", -1;
        return 0;
    }
    if (strcmp(k, "window") == 0) {
        if (ini_duration_ms(v, MAX_DURATION_MS, &r->window_ms) != 0 || r->window_ms < 1000)
            return *why = "window: a duration of at least 1s", -1;
        return 0;
    }
    if (strcmp(k, "severity") == 0) {
        if (strcmp(v, "critical") != 0 && strcmp(v, "warning") != 0 && strcmp(v, "info") != 0)
            return *why = "severity: critical, warning or info", -1;
        snprintf(r->severity, sizeof(r->severity), "%s", v);
        return 0;
    }
    if (strcmp(k, "labels") == 0)
        return parse_labels(v, r->labels, sizeof(r->labels), why);
    if (strcmp(k, "url") == 0) {
        if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || strlen(v) >= sizeof(r->url))
            return *why = "url: an http:// or https:// URL", -1;
        snprintf(r->url, sizeof(r->url), "%s", v);
        return 0;
    }
    return *why = "unknown key (kind, threshold, for, repeat, window, severity, labels, url)", -1;
}

int rules_parse(const char *text, const char *name, rules_t *out, char *err, size_t errsize)
{
    char *copy = strdup(text), *line, *next;
    rule_t *r = NULL;
    int lineno = 0, has_kind = 0, rc = -1;

    out->n = 0;
    if (copy == NULL)
        return fail(err, errsize, name, 0, "out of memory");
    for (line = copy; line != NULL; line = next) {
        char *nl = strchr(line, '\n');
        const char *why = NULL;
        ini_item_t it;

        next = nl != NULL ? nl + 1 : NULL;
        if (nl != NULL)
            *nl = '\0';
        lineno++;
        ini_parse_line(line, &it);
        if (it.kind == INI_BLANK)
            continue;
        if (it.kind == INI_ERROR) {
            fail(err, errsize, name, lineno, "%s", it.why);
            goto out;
        }
        if (it.kind == INI_SECTION) {
            if (r != NULL && !has_kind) {
                fail(err, errsize, name, r->line, "rule \"%s\" has no kind", r->name);
                goto out;
            }
            if (strcmp(it.a, "rule") != 0 || !ini_valid_name(it.b, RULES_NAME_LEN - 1)) {
                fail(err, errsize, name, lineno, "expected [rule NAME] (letters, digits, _ - .)");
                goto out;
            }
            for (int i = 0; i < out->n; i++)
                if (strcmp(out->v[i].name, it.b) == 0) {
                    fail(err, errsize, name, lineno, "rule \"%s\" is defined twice", it.b);
                    goto out;
                }
            if (out->n == RULES_MAX) {
                fail(err, errsize, name, lineno, "more than %d rules", RULES_MAX);
                goto out;
            }
            r = &out->v[out->n++];
            *r = (rule_t){.repeat_ms = 3600000, .window_ms = 600000, .line = lineno};
            snprintf(r->name, sizeof(r->name), "%s", it.b);
            snprintf(r->severity, sizeof(r->severity), "warning");
            snprintf(r->labels, sizeof(r->labels), "{}");
            snprintf(r->url, sizeof(r->url), "http://127.0.0.1:9101/health");
            has_kind = 0;
            continue;
        }
        if (r == NULL) {
            fail(err, errsize, name, lineno, "\"%s\" comes before any [rule]", it.a);
            goto out;
        }
        if (rule_key(r, it.a, it.b, &why, &has_kind) != 0) {
            fail(err, errsize, name, lineno, "rule \"%s\": %s", r->name, why);
            goto out;
        }
    }
    if (r != NULL && !has_kind) {
        fail(err, errsize, name, r->line, "rule \"%s\" has no kind", r->name);
        goto out;
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

int rules_load(const char *path, rules_t *out, char *err, size_t errsize)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    long n;
    int rc = -1;

    if (f == NULL)
        return fail(err, errsize, path, 0, "cannot open: %m");
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET) != 0) {
        fail(err, errsize, path, 0, "cannot read (or over 1 MiB)");
        goto out;
    }
    if ((text = malloc((size_t)n + 1)) == NULL || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fail(err, errsize, path, 0, "cannot read");
        goto out;
    }
    text[n] = '\0';
    rc = rules_parse(text, path, out, err, errsize);
out:
    free(text);
    fclose(f);
    return rc;
}
