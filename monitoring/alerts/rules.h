/*
 * rules.h - ecom-alerts' rule file (monitoring/alerts/rules.conf): what
 * each rule watches, its threshold, for-duration, repeat interval,
 * severity and labels. Pure: text in, rules out, every mistake reported
 * as file:line: what is wrong.
 *
 *   [rule consumer_lag_high]
 *   kind = consumer_lag        # see below
 *   threshold = 1000           # the kind's number (see below)
 *   for = 30s                  # active this long before it fires (default 0)
 *   repeat = 5m                # notified again while firing (default 1h)
 *   window = 10m               # the look-back of rate and event kinds
 *   severity = warning         # critical, warning or info (default warning)
 *   labels = team=data, service=ecom-stream
 *   url = http://127.0.0.1:9101/health   # stream_down only
 *
 * A value written ${NAME:-default} is the environment variable NAME when
 * set, else the default (the shipped file's stream URL: the compose stack
 * sets ECOM_STREAM_HEALTH_URL).
 *
 * Kinds (instances: one alert per what is named in braces):
 *   consumer_lag   {group} lag sum above threshold messages (ecom-metrics' series)
 *   stream_down    GET url does not answer 200 within 3 s
 *   dead_letters   dead letters per minute over window above threshold
 *   freshness      {topic} newest stored event older than threshold seconds
 *   quality_failed {check, table} failed in the newest ecom-quality run
 *   task_failed    {dag, task} the newest instance of the task failed
 *   fraud          {alert_id} fraud alerts ecom-stream wrote within window
 *   low_stock      {product, warehouse} whose newest stock alert is "low"
 */
#ifndef ECOM_RULES_H
#define ECOM_RULES_H

#include <stddef.h>
#include <stdint.h>

#define RULES_MAX 64
#define RULES_NAME_LEN 64

typedef enum {
    RULE_CONSUMER_LAG,
    RULE_STREAM_DOWN,
    RULE_DEAD_LETTERS,
    RULE_FRESHNESS,
    RULE_QUALITY_FAILED,
    RULE_TASK_FAILED,
    RULE_FRAUD,
    RULE_LOW_STOCK,
    RULE_KINDS
} rule_kind_t;

typedef struct {
    char name[RULES_NAME_LEN];
    rule_kind_t kind;
    double threshold;
    int64_t for_ms, repeat_ms, window_ms;
    char severity[16];
    char labels[512]; /* canonical JSON object of the rule's labels */
    char url[512];
    int line;
} rule_t;

typedef struct {
    rule_t v[RULES_MAX];
    int n;
} rules_t;

const char *rules_kind_name(rule_kind_t k);

/* Parses text (named name in errors). 0, or -1 with "name:line: ..." in err. */
int rules_parse(const char *text, const char *name, rules_t *out, char *err, size_t errsize);
/* Reads and parses path. */
int rules_load(const char *path, rules_t *out, char *err, size_t errsize);

#endif
