/*
 * webmon.c - Kafka UI and Spark master JSON into samples (see webmon.h),
 * read with jansson. Missing optional fields are skipped; a body of the
 * wrong shape is an error naming what was missing.
 */
#include "webmon.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *load(const char *body, size_t len, const char *what, char *err, size_t errsize)
{
    json_error_t je;
    json_t *j = json_loadb(body != NULL ? body : "", len, 0, &je);

    if (j == NULL)
        snprintf(err, errsize, "%s: not JSON (%s at line %d)", what, je.text, je.line);
    return j;
}

/* A JSON number as a double; 1 when it is one. */
static int number(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

int web_kafkaui_clusters(const char *body, size_t len, char **names, int max, smp_set_t *out,
                         char *err, size_t errsize)
{
    json_t *j = load(body, len, "clusters", err, errsize), *c;
    size_t i;
    int n = -1;
    double v;

    if (j == NULL)
        return -1;
    if (!json_is_array(j)) {
        snprintf(err, errsize, "clusters: expected an array");
        goto out;
    }
    n = 0;
    json_array_foreach(j, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *status = json_string_value(json_object_get(c, "status"));

        if (name == NULL || n == max)
            continue;
        if ((names[n] = strdup(name)) == NULL) {
            out->oom = 1;
            break;
        }
        n++;
        smp_addv(out, "kafkaui_cluster_online", status != NULL && strcmp(status, "online") == 0, 1,
                 "cluster", name);
        if (number(c, "brokerCount", &v))
            smp_addv(out, "kafkaui_brokers", v, 1, "cluster", name);
    }
out:
    json_decref(j);
    return n;
}

/* The page's array under key, and its pageCount (1 when absent). */
static json_t *page(json_t *j, const char *key, const char *what, int *pages, char *err, size_t errsize)
{
    json_t *a = json_object_get(j, key);
    double pc = 1;

    if (!json_is_array(a)) {
        snprintf(err, errsize, "%s: no \"%s\" array", what, key);
        return NULL;
    }
    number(j, "pageCount", &pc);
    *pages = pc >= 1 ? (int)pc : 1;
    return a;
}

int web_kafkaui_topics(const char *body, size_t len, const char *cluster, smp_set_t *out, char *err,
                       size_t errsize)
{
    json_t *j = load(body, len, "topics", err, errsize), *a, *t;
    size_t i;
    int pages = -1;

    if (j == NULL)
        return -1;
    if ((a = page(j, "topics", "topics", &pages, err, errsize)) == NULL) {
        pages = -1;
        goto out;
    }
    json_array_foreach(a, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        const json_t *parts = json_object_get(t, "partitions");
        double v, messages = 0, hi, lo;
        size_t k;
        json_t *p;

        if (name == NULL || json_is_true(json_object_get(t, "internal")))
            continue;
        if (number(t, "partitionCount", &v))
            smp_addv(out, "kafkaui_topic_partitions", v, 2, "cluster", cluster, "topic", name);
        if (!json_is_array(parts))
            continue;
        json_array_foreach(parts, k, p) {
            if (number(p, "offsetMax", &hi) && number(p, "offsetMin", &lo))
                messages += hi - lo;
        }
        smp_addv(out, "kafkaui_topic_messages", messages, 2, "cluster", cluster, "topic", name);
    }
out:
    json_decref(j);
    return pages;
}

int web_kafkaui_groups(const char *body, size_t len, const char *cluster, smp_set_t *out, char *err,
                       size_t errsize)
{
    json_t *j = load(body, len, "consumer groups", err, errsize), *a, *g;
    size_t i;
    int pages = -1;

    if (j == NULL)
        return -1;
    if ((a = page(j, "consumerGroups", "consumer groups", &pages, err, errsize)) == NULL) {
        pages = -1;
        goto out;
    }
    json_array_foreach(a, i, g) {
        const char *id = json_string_value(json_object_get(g, "groupId"));
        double v;

        if (id == NULL)
            continue;
        /* consumerLag since kafka-ui 0.7; messagesBehind before it. */
        if (number(g, "consumerLag", &v) || number(g, "messagesBehind", &v))
            smp_addv(out, "kafkaui_consumergroup_lag", v, 2, "cluster", cluster, "group", id);
        if (number(g, "members", &v))
            smp_addv(out, "kafkaui_consumergroup_members", v, 2, "cluster", cluster, "group", id);
    }
out:
    json_decref(j);
    return pages;
}

static size_t array_len(const json_t *o, const char *key)
{
    const json_t *a = json_object_get(o, key);
    return json_is_array(a) ? json_array_size(a) : 0;
}

int web_spark_master(const char *body, size_t len, smp_set_t *out, char *err, size_t errsize)
{
    static const struct {
        const char *key, *name;
    } nums[] = {{"cores", "spark_cores"},
                {"coresused", "spark_cores_used"},
                {"memory", "spark_memory_mb"},
                {"memoryused", "spark_memory_used_mb"}};
    json_t *j = load(body, len, "spark master", err, errsize), *w;
    const json_t *workers;
    const char *status;
    size_t i;
    int rc = -1, alive = 0, dead = 0;
    double v;

    if (j == NULL)
        return -1;
    workers = json_object_get(j, "workers");
    status = json_string_value(json_object_get(j, "status"));
    if (!json_is_object(j) || !json_is_array(workers) || status == NULL) {
        snprintf(err, errsize, "spark master: expected an object with \"workers\" and \"status\"");
        goto out;
    }
    smp_addv(out, "spark_master_alive", strcmp(status, "ALIVE") == 0, 0);
    json_array_foreach(workers, i, w) {
        const char *st = json_string_value(json_object_get(w, "state"));
        if (st != NULL && strcmp(st, "ALIVE") == 0)
            alive++;
        else
            dead++;
    }
    smp_addv(out, "spark_workers", alive, 1, "state", "alive");
    smp_addv(out, "spark_workers", dead, 1, "state", "other");
    for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
        if (number(j, nums[k].key, &v))
            smp_addv(out, nums[k].name, v, 0);
    smp_addv(out, "spark_apps_active", (double)array_len(j, "activeapps"), 0);
    smp_addv(out, "spark_apps_completed", (double)array_len(j, "completedapps"), 0);
    rc = 0;
out:
    json_decref(j);
    return rc;
}
