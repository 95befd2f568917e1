/*
 * dag.c - the DAG file (see dag.h): an INI reader that knows every key,
 * then the checks across tasks (upstream names, cycles).
 */
#include "dag.h"
#include "ini.h"
#include "config.h"
#include "period.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const trigger_names[] = {"all_success", "all_failed", "all_done",
                                            "one_success", "one_failed", "none_failed"};

const char *dag_trigger_name(dag_trigger_t t)
{
    return (unsigned)t < 6 ? trigger_names[t] : "?";
}

typedef struct {
    const char *name;
    int line;
    char *err;
    size_t errsize;
} dag_parser_t;

static int fail(dag_parser_t *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(dag_parser_t *p, int line, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errsize, "%s:%d: %s", p->name, line, what);
    return -1;
}

/* A name: letters, digits, '_', '-', '.', at most DAG_ID_LEN - 1 bytes. */
/* Names, booleans and durations as every INI file of the project has them. */
static int valid_id(const char *s) { return ini_valid_name(s, DAG_ID_LEN - 1); }
static int parse_bool(const char *v, int *out) { return ini_bool(v, out); }
/* N (seconds), Ns, Nm, Nh, Nd: milliseconds, up to 30 days. */
static int parse_duration(const char *v, int64_t *ms) { return ini_duration_ms(v, 30LL * 86400000, ms); }

static int dag_key(dag_parser_t *p, dag_t *d, const char *k, const char *v)
{
    char why[192];
    int64_t lo, hi, x;

    if (strcmp(k, "schedule") == 0) {
        if (cron_parse(v, &d->schedule, why, sizeof(why)) != 0)
            return fail(p, p->line, "schedule of DAG \"%s\": %s", d->id, why);
        snprintf(d->schedule_text, sizeof(d->schedule_text), "%s", v);
    } else if (strcmp(k, "start_date") == 0) {
        if (period_parse(v, &lo, &hi, why, sizeof(why)) != 0)
            return fail(p, p->line, "start_date of DAG \"%s\": %s", d->id, why);
        d->start_date_ms = lo;
    } else if (strcmp(k, "catchup") == 0) {
        if (parse_bool(v, &d->catchup) != 0)
            return fail(p, p->line, "catchup of DAG \"%s\": expected true or false, got \"%.40s\"", d->id, v);
    } else if (strcmp(k, "max_active_runs") == 0) {
        if (config_parse_int64(v, 1, 1000, &x) != 0)
            return fail(p, p->line, "max_active_runs of DAG \"%s\": expected 1 to 1000, got \"%.40s\"", d->id, v);
        d->max_active_runs = (int)x;
    } else if (strcmp(k, "description") != 0) {
        return fail(p, p->line, "unknown key \"%.40s\" in DAG \"%s\" (schedule, start_date, catchup, "
                                "max_active_runs, description)", k, d->id);
    }
    return 0;
}

/* upstream names are resolved once the whole DAG is read: keep the text. */
static int task_key(dag_parser_t *p, dag_task_t *t, char **upstream_text, const char *k, const char *v)
{
    int64_t x;

    if (strcmp(k, "command") == 0) {
        if (*v == '\0')
            return fail(p, p->line, "command of task \"%s\" is empty", t->id);
        free(t->command);
        if ((t->command = strdup(v)) == NULL)
            return fail(p, p->line, "out of memory");
    } else if (strcmp(k, "upstream") == 0) {
        free(*upstream_text);
        if ((*upstream_text = strdup(v)) == NULL)
            return fail(p, p->line, "out of memory");
    } else if (strcmp(k, "retries") == 0) {
        if (config_parse_int64(v, 0, 100, &x) != 0)
            return fail(p, p->line, "retries of task \"%s\": expected 0 to 100, got \"%.40s\"", t->id, v);
        t->retries = (int)x;
    } else if (strcmp(k, "retry_delay") == 0 || strcmp(k, "max_retry_delay") == 0 ||
               strcmp(k, "execution_timeout") == 0) {
        int64_t *dst = k[0] == 'r' ? &t->retry_delay_ms
                       : k[0] == 'm' ? &t->max_retry_delay_ms : &t->execution_timeout_ms;
        if (parse_duration(v, dst) != 0)
            return fail(p, p->line, "%s of task \"%s\": expected a duration (N, Ns, Nm, Nh, Nd; at most 30 days), got \"%.40s\"",
                        k, t->id, v);
    } else if (strcmp(k, "retry_exponential_backoff") == 0) {
        if (parse_bool(v, &t->retry_exponential_backoff) != 0)
            return fail(p, p->line, "retry_exponential_backoff of task \"%s\": expected true or false", t->id);
    } else if (strcmp(k, "trigger_rule") == 0) {
        int i;
        for (i = 0; i < 6 && strcmp(v, trigger_names[i]) != 0; i++)
            ;
        if (i == 6)
            return fail(p, p->line, "trigger_rule of task \"%s\": unknown rule \"%.40s\" (all_success, all_failed, "
                                    "all_done, one_success, one_failed, none_failed)", t->id, v);
        t->trigger_rule = (dag_trigger_t)i;
    } else {
        return fail(p, p->line, "unknown key \"%.40s\" in task \"%s\" (command, upstream, retries, retry_delay, "
                                "retry_exponential_backoff, max_retry_delay, execution_timeout, trigger_rule)",
                    k, t->id);
    }
    return 0;
}

/* Depth-first search for a cycle through task i; path holds the way in. */
static int find_cycle(const dag_t *d, int i, int *state, int *path, int depth, int *cycle_len)
{
    state[i] = 1;
    path[depth] = i;
    for (int k = 0; k < d->tasks[i].n_upstream; k++) {
        int u = d->tasks[i].upstream[k];
        if (state[u] == 1) {
            int from = depth;
            while (path[from] != u)
                from--;
            memmove(path, path + from, sizeof(int) * (size_t)(depth - from + 1));
            *cycle_len = depth - from + 1;
            return 1;
        }
        if (state[u] == 0 && find_cycle(d, u, state, path, depth + 1, cycle_len))
            return 1;
    }
    state[i] = 2;
    return 0;
}

/* Resolves upstream names and checks for cycles, once a DAG is complete. */
static int finish_dag(dag_parser_t *p, dag_t *d, char **upstream_text)
{
    int state[DAG_MAX_TASKS] = {0}, path[DAG_MAX_TASKS + 1], len = 0;
    char chain[512];

    if (d->n_tasks == 0)
        return fail(p, d->line, "DAG \"%s\" has no task", d->id);
    for (int i = 0; i < d->n_tasks; i++) {
        dag_task_t *t = &d->tasks[i];
        char *save = NULL, *name;

        if (t->command == NULL)
            return fail(p, t->line, "task \"%s\" of DAG \"%s\" has no command", t->id, d->id);
        for (name = upstream_text[i] ? strtok_r(upstream_text[i], ",", &save) : NULL; name != NULL;
             name = strtok_r(NULL, ",", &save)) {
            int u = dag_task_index(d, config_trim(name));
            if (u < 0)
                return fail(p, t->line, "task \"%s\": upstream task \"%.40s\" is not in DAG \"%s\"", t->id,
                            config_trim(name), d->id);
            if (u == i)
                return fail(p, t->line, "task \"%s\" is its own upstream", t->id);
            t->upstream[t->n_upstream++] = u;
        }
    }
    for (int i = 0; i < d->n_tasks; i++) {
        if (state[i] == 0 && find_cycle(d, i, state, path, 0, &len)) {
            size_t off = 0;
            for (int k = 0; k < len && off < sizeof(chain); k++)
                off += (size_t)snprintf(chain + off, sizeof(chain) - off, "%s -> ", d->tasks[path[k]].id);
            if (off < sizeof(chain))
                snprintf(chain + off, sizeof(chain) - off, "%s", d->tasks[path[0]].id);
            return fail(p, d->tasks[path[0]].line, "dependency cycle in DAG \"%s\": %s (each waits for the next)",
                        d->id, chain);
        }
    }
    return 0;
}

static void free_upstream(char **text, int n)
{
    for (int i = 0; i < n; i++) {
        free(text[i]);
        text[i] = NULL;
    }
}

int dag_file_parse(const char *text, const char *name, dag_file_t *out, char *err, size_t errsize)
{
    dag_parser_t p = {name, 0, err, errsize};
    char *copy = strdup(text), *line, *save = NULL;
    char *upstream[DAG_MAX_TASKS] = {NULL};
    dag_t *d = NULL;
    dag_task_t *t = NULL;
    int rc = -1;

    out->dags = calloc(DAG_MAX_DAGS, sizeof(dag_t));
    out->n = 0;
    if (copy == NULL || out->dags == NULL) {
        snprintf(err, errsize, "%s: out of memory", name);
        goto done;
    }
    /* strtok_r would skip empty lines and so lose the count: split by hand. */
    for (line = copy; line != NULL; line = save) {
        char *nl = strchr(line, '\n'), *s, *eq;

        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        p.line++;
        s = config_trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']'), *kind, *id;
            if (end == NULL || config_trim(end + 1)[0] != '\0') {
                fail(&p, p.line, "a section header must end with ]");
                goto done;
            }
            *end = '\0';
            kind = config_trim(s + 1);
            id = strchr(kind, ' ');
            if (id == NULL) {
                fail(&p, p.line, "expected [dag NAME] or [task NAME]");
                goto done;
            }
            *id++ = '\0';
            id = config_trim(id);
            if (!valid_id(id)) {
                fail(&p, p.line, "bad name \"%.40s\" (letters, digits, _ - . only, at most %d)", id, DAG_ID_LEN - 1);
                goto done;
            }
            if (strcmp(kind, "dag") == 0) {
                if (d != NULL && finish_dag(&p, d, upstream) != 0)
                    goto done;
                free_upstream(upstream, DAG_MAX_TASKS);
                if (dag_find(out, id) != NULL) {
                    fail(&p, p.line, "DAG \"%s\" is defined twice", id);
                    goto done;
                }
                if (out->n == DAG_MAX_DAGS) {
                    fail(&p, p.line, "more than %d DAGs", DAG_MAX_DAGS);
                    goto done;
                }
                d = &out->dags[out->n++];
                snprintf(d->id, sizeof(d->id), "%s", id);
                d->line = p.line;
                d->catchup = 1;
                d->max_active_runs = 16;
                d->schedule.kind = CRON_NONE;
                snprintf(d->schedule_text, sizeof(d->schedule_text), "none");
                t = NULL;
            } else if (strcmp(kind, "task") == 0) {
                if (d == NULL) {
                    fail(&p, p.line, "task \"%s\" comes before any [dag]", id);
                    goto done;
                }
                if (dag_task_index(d, id) >= 0) {
                    fail(&p, p.line, "task \"%s\" is defined twice in DAG \"%s\"", id, d->id);
                    goto done;
                }
                if (d->n_tasks == DAG_MAX_TASKS) {
                    fail(&p, p.line, "more than %d tasks in DAG \"%s\"", DAG_MAX_TASKS, d->id);
                    goto done;
                }
                t = &d->tasks[d->n_tasks++];
                snprintf(t->id, sizeof(t->id), "%s", id);
                t->line = p.line;
                t->retry_delay_ms = 300000;
                t->max_retry_delay_ms = 86400000;
            } else {
                fail(&p, p.line, "unknown section \"%.40s\" (dag or task)", kind);
                goto done;
            }
            continue;
        }
        if ((eq = strchr(s, '=')) == NULL) {
            fail(&p, p.line, "expected KEY = VALUE");
            goto done;
        }
        *eq = '\0';
        if (d == NULL) {
            fail(&p, p.line, "\"%.40s\" comes before any [dag]", config_trim(s));
            goto done;
        }
        if (t != NULL ? task_key(&p, t, &upstream[t - d->tasks], config_trim(s), config_trim(eq + 1))
                      : dag_key(&p, d, config_trim(s), config_trim(eq + 1)))
            goto done;
    }
    if (d == NULL) {
        snprintf(err, errsize, "%s: no [dag] in the file", name);
        goto done;
    }
    if (finish_dag(&p, d, upstream) != 0)
        goto done;
    rc = 0;
done:
    free_upstream(upstream, DAG_MAX_TASKS);
    free(copy);
    if (rc != 0)
        dag_file_free(out);
    return rc;
}

int dag_file_load(const char *path, dag_file_t *out, char *err, size_t errsize)
{
    FILE *fp = fopen(path, "r");
    char *text = NULL;
    size_t cap = 0, len = 0, n;
    int rc;

    out->dags = NULL;
    out->n = 0;
    if (fp == NULL) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    do {
        if (len + 4096 + 1 > cap) {
            char *grown = realloc(text, cap = cap ? cap * 2 : 8192);
            if (grown == NULL) {
                free(text);
                fclose(fp);
                snprintf(err, errsize, "%s: out of memory", path);
                return -1;
            }
            text = grown;
        }
        n = fread(text + len, 1, cap - len - 1, fp);
        len += n;
    } while (n > 0 && len < (1u << 20));
    fclose(fp);
    text[len] = '\0';
    rc = dag_file_parse(text, path, out, err, errsize);
    free(text);
    return rc;
}

void dag_file_free(dag_file_t *f)
{
    for (int i = 0; f->dags != NULL && i < f->n; i++)
        for (int k = 0; k < f->dags[i].n_tasks; k++)
            free(f->dags[i].tasks[k].command);
    free(f->dags);
    f->dags = NULL;
    f->n = 0;
}

const dag_t *dag_find(const dag_file_t *f, const char *id)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->dags[i].id, id) == 0)
            return &f->dags[i];
    return NULL;
}

int dag_task_index(const dag_t *d, const char *id)
{
    for (int i = 0; i < d->n_tasks; i++)
        if (strcmp(d->tasks[i].id, id) == 0)
            return i;
    return -1;
}

void dag_topo_order(const dag_t *d, int *order)
{
    int placed[DAG_MAX_TASKS] = {0}, n = 0;

    /* Repeatedly the first task (file order) whose upstream are placed;
     * the DAG has no cycle, so every pass places one. */
    while (n < d->n_tasks) {
        int before = n;
        for (int i = 0; i < d->n_tasks; i++) {
            int ready = !placed[i];
            for (int k = 0; ready && k < d->tasks[i].n_upstream; k++)
                ready = placed[d->tasks[i].upstream[k]];
            if (ready) {
                placed[i] = 1;
                order[n++] = i;
                break;
            }
        }
        if (n == before) /* a cycle (never after dag_file_parse): the rest in file order */
            for (int i = 0; i < d->n_tasks; i++)
                if (!placed[i])
                    placed[i] = 1, order[n++] = i;
    }
}
