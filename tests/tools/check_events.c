/*
 * check_events.c - test tool: reads consumed messages, one per line as
 * "topic<TAB>key<TAB>payload" (kcat -f '%t\t%k\t%s\n'), validates each
 * against its topic's schema, checks the message key (user_id for
 * user-events and transactions, product_id for inventory-updates), and
 * prints per-topic counts as JSON on stdout:
 *   {"user-events":{"messages":N,"valid":N,"invalid":N,"bad_key":N,
 *    "distinct_ids":N}, ...}
 * Exit status 0 always when the input could be read (the test judges).
 * The first few problems are described on stderr.
 */
#include "schema.h"
#include "ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long messages, valid, invalid, bad_key;
    char **ids;
    size_t nids, capids;
} topic_counts_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long distinct(topic_counts_t *t)
{
    long n = 0;
    qsort(t->ids, t->nids, sizeof(char *), cmp_str);
    for (size_t i = 0; i < t->nids; i++)
        n += i == 0 || strcmp(t->ids[i], t->ids[i - 1]) != 0;
    return n;
}

static void remember_id(topic_counts_t *t, const char *id)
{
    if (t->nids == t->capids) {
        t->capids = t->capids ? t->capids * 2 : 1024;
        t->ids = realloc(t->ids, t->capids * sizeof(char *));
        if (t->ids == NULL)
            exit(1);
    }
    t->ids[t->nids++] = strdup(id);
}

int main(void)
{
    static const char *const key_field[SCHEMA_TOPICS] = {"user_id", "user_id", "product_id"};
    static const char *const id_field[SCHEMA_TOPICS] = {"event_id", "transaction_id", "event_id"};
    topic_counts_t counts[SCHEMA_TOPICS];
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int reported = 0;

    memset(counts, 0, sizeof(counts));
    while ((len = getline(&line, &cap, stdin)) > 0) {
        char *tab1, *tab2;
        int t;
        schema_result_t res;
        json_t *root = NULL;

        if (line[len - 1] == '\n')
            line[--len] = '\0';
        tab1 = strchr(line, '\t');
        tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (tab2 == NULL)
            continue;
        *tab1 = *tab2 = '\0';
        t = schema_topic_from_name(line);
        if (t < 0)
            continue;
        counts[t].messages++;
        if (schema_check((schema_topic_t)t, tab2 + 1, strlen(tab2 + 1),
                         SCHEMA_MAX_MESSAGE_BYTES, ts_now_ms(), &root, &res) != 0) {
            counts[t].invalid++;
            if (reported++ < 5)
                fprintf(stderr, "invalid %s message: %s\n", line, res.reason);
            continue;
        }
        counts[t].valid++;
        if (strcmp(json_string_value(json_object_get(root, key_field[t])), tab1 + 1) != 0) {
            counts[t].bad_key++;
            if (reported++ < 5)
                fprintf(stderr, "%s message with key \"%s\" has %s \"%s\"\n", line, tab1 + 1,
                        key_field[t], json_string_value(json_object_get(root, key_field[t])));
        }
        remember_id(&counts[t], json_string_value(json_object_get(root, id_field[t])));
        json_decref(root);
    }
    free(line);
    printf("{");
    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        printf("%s\"%s\":{\"messages\":%ld,\"valid\":%ld,\"invalid\":%ld,\"bad_key\":%ld,"
               "\"distinct_ids\":%ld}",
               t ? "," : "", schema_topics[t].name, counts[t].messages, counts[t].valid,
               counts[t].invalid, counts[t].bad_key, distinct(&counts[t]));
        for (size_t i = 0; i < counts[t].nids; i++)
            free(counts[t].ids[i]);
        free(counts[t].ids);
    }
    printf("}\n");
    return 0;
}
