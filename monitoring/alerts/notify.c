/*
 * notify.c - webhook and Alertmanager payloads and their delivery (see
 * notify.h). The labels are already JSON (from PostgreSQL); jansson merges
 * them with alertname and severity for Alertmanager.
 */
#include "notify.h"
#include "js.h"
#include "ts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void iso(int64_t ms, char *out, size_t size)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&sec, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void notify_webhook_json(const anote_t *n, buf_t *out)
{
    char since[32];

    iso(n->active_since, since, sizeof(since));
    js_begin_object(out);
    js_kv_int(out, "id", n->id);
    js_kv_string(out, "event", n->event);
    js_kv_string(out, "status", strcmp(n->event, "resolved") == 0 ? "resolved" : "firing");
    js_kv_string(out, "rule", n->rule);
    js_kv_string(out, "key", n->key);
    js_kv_string(out, "severity", n->severity);
    js_key(out, "labels");
    js_raw(out, n->labels);
    js_kv_string(out, "summary", n->summary);
    js_key(out, "value");
    js_double(out, n->value);
    js_kv_string(out, "active_since", since);
    js_end_object(out);
}

void notify_alertmanager_json(const anote_t *n, int64_t now_ms, int64_t repeat_ms, buf_t *out)
{
    json_t *labels = json_loads(n->labels, 0, NULL), *strs = json_object();
    char starts[32], ends[32];
    const char *k;
    json_t *v;

    iso(n->active_since, starts, sizeof(starts));
    iso(strcmp(n->event, "resolved") == 0 ? now_ms : now_ms + 3 * repeat_ms, ends, sizeof(ends));
    /* Alertmanager's labels are strings. */
    json_object_foreach(labels, k, v) {
        if (json_is_string(v))
            json_object_set(strs, k, v);
        else {
            char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            json_object_set_new(strs, k, json_string(t != NULL ? t : ""));
            free(t);
        }
    }
    json_object_set_new(strs, "alertname", json_string(n->rule));
    json_object_set_new(strs, "severity", json_string(n->severity));
    json_object_set_new(strs, "instance_key", json_string(n->key));
    {
        char *text = json_dumps(strs, JSON_COMPACT | JSON_SORT_KEYS);
        buf_puts(out, "[{\"labels\":");
        buf_puts(out, text != NULL ? text : "{}");
        free(text);
    }
    buf_puts(out, ",\"annotations\":");
    js_begin_object(out);
    js_kv_string(out, "summary", n->summary);
    js_end_object(out);
    buf_printf(out, ",\"startsAt\":\"%s\",\"endsAt\":\"%s\",\"generatorURL\":\"ecom-alerts://%s\"}]", starts, ends,
               n->rule);
    json_decref(labels);
    json_decref(strs);
}

int notify_post(hget_t *h, const char *url, const char *body, int tries, int timeout_ms, char *err,
                size_t errsize)
{
    int delay = 250;
    buf_t answer;

    buf_init(&answer);
    for (int i = 0; i < tries; i++) {
        int status = hget_post_json(h, url, body, timeout_ms, &answer, err, errsize);

        if (status >= 200 && status <= 299) {
            buf_free(&answer);
            return 0;
        }
        if (i + 1 < tries) {
            ts_sleep_until_us(ts_monotonic_us() + (int64_t)delay * 1000, delay);
            delay *= 2;
        }
    }
    buf_free(&answer);
    return -1;
}
