/*
 * kafkamon.c - topics, watermarks and consumer-group lag through
 * librdkafka's metadata, watermark and admin APIs (see kafkamon.h).
 * One temporary admin queue per scrape; the watermarks are kept in an
 * array for the lag of each group's partitions.
 */
#include "kafkamon.h"
#include "elog.h"
#include "ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *topic; /* borrowed from the metadata */
    int partition;
    long long lo, hi;
} mark_t;

long long kmon_lag(long long hi, long long committed)
{
    if (committed < 0)
        return -1;
    return hi > committed ? hi - committed : 0;
}

static int left_ms(int64_t deadline)
{
    int64_t left = deadline - ts_monotonic_ms();
    return left > 0 ? (int)left : 0;
}

static const mark_t *find_mark(const mark_t *m, size_t n, const char *topic, int partition)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].partition == partition && strcmp(m[i].topic, topic) == 0)
            return &m[i];
    return NULL;
}

/* Polls q for the result of one admin request until the deadline. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, int64_t deadline)
{
    return rd_kafka_queue_poll(q, left_ms(deadline) + 1);
}

static rd_kafka_AdminOptions_t *admin_opts(rd_kafka_t *rk, rd_kafka_admin_op_t op, int64_t deadline)
{
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    char es[128];

    if (o != NULL)
        rd_kafka_AdminOptions_set_request_timeout(o, left_ms(deadline) + 1, es, sizeof(es));
    return o;
}

/* One group's committed offsets and lag. 0, or -1 (logged). */
static int scrape_group(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group, const mark_t *marks,
                        size_t nmarks, int64_t deadline, smp_set_t *out)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_AdminOptions_t *o = admin_opts(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, deadline);
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_group_result_t **gr;
    const rd_kafka_topic_partition_list_t *parts;
    size_t ngr = 0;
    long long sum = 0;
    int rc = -1;

    if (req == NULL || o == NULL)
        goto out;
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    ev = admin_wait(q, deadline);
    if (ev == NULL) {
        LOG_WARN("kafka: offsets of group \"%s\": no answer in time", group);
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_WARN("kafka: offsets of group \"%s\": %s", group, rd_kafka_event_error_string(ev));
        goto out;
    }
    gr = rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &ngr);
    if (ngr != 1 || rd_kafka_group_result_error(gr[0]) != NULL) {
        LOG_WARN("kafka: offsets of group \"%s\": %s", group,
                 ngr == 1 ? rd_kafka_error_string(rd_kafka_group_result_error(gr[0])) : "no result");
        goto out;
    }
    parts = rd_kafka_group_result_partitions(gr[0]);
    for (int i = 0; parts != NULL && i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        const mark_t *m = find_mark(marks, nmarks, tp->topic, tp->partition);
        char pn[16];
        long long lag;

        if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR || tp->offset < 0)
            continue;
        snprintf(pn, sizeof(pn), "%d", tp->partition);
        smp_addv(out, "kafka_consumergroup_current_offset", (double)tp->offset, 3, "group", group, "topic",
                 tp->topic, "partition", pn);
        if (m == NULL)
            continue; /* a deleted topic or an internal one */
        lag = kmon_lag(m->hi, tp->offset);
        sum += lag;
        smp_addv(out, "kafka_consumergroup_lag", (double)lag, 3, "group", group, "topic", tp->topic,
                 "partition", pn);
    }
    smp_addv(out, "kafka_consumergroup_lag_sum", (double)sum, 1, "group", group);
    rc = 0;
out:
    if (req != NULL)
        rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(o);
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    return rc;
}

/* Lists the groups, then scrapes each. Returns the groups that failed, or
 * -1 when the list itself failed. */
static int scrape_groups(rd_kafka_t *rk, const mark_t *marks, size_t nmarks, int64_t deadline,
                         smp_set_t *out)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_opts(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, deadline);
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConsumerGroupListing_t **groups;
    size_t ngroups = 0;
    int failed = -1;

    if (q == NULL || o == NULL)
        goto out;
    rd_kafka_ListConsumerGroups(rk, o, q);
    ev = admin_wait(q, deadline);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_WARN("kafka: listing consumer groups: %s",
                 ev != NULL ? rd_kafka_event_error_string(ev) : "no answer in time");
        goto out;
    }
    groups = rd_kafka_ListConsumerGroups_result_valid(rd_kafka_event_ListConsumerGroups_result(ev), &ngroups);
    smp_addv(out, "kafka_consumergroups", (double)ngroups, 0);
    failed = 0;
    for (size_t i = 0; i < ngroups; i++) {
        const char *g = rd_kafka_ConsumerGroupListing_group_id(groups[i]);
        rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupListing_state(groups[i]);

        smp_addv(out, "kafka_consumergroup_state", 1, 2, "group", g, "state",
                 rd_kafka_consumer_group_state_name(st));
        if (scrape_group(rk, q, g, marks, nmarks, deadline, out) != 0)
            failed++;
    }
out:
    rd_kafka_AdminOptions_destroy(o);
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (q != NULL)
        rd_kafka_queue_destroy(q);
    return failed;
}

int kmon_scrape(rd_kafka_t *rk, int timeout_ms, smp_set_t *out, int *partial, char *err, size_t errsize)
{
    int64_t deadline = ts_monotonic_ms() + timeout_ms;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    mark_t *marks = NULL;
    size_t nmarks = 0, cap = 0;
    int bad = 0, groups_failed, rc = -1;

    e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errsize, "metadata: %s", rd_kafka_err2str(e));
        goto out;
    }
    smp_addv(out, "kafka_brokers", md->broker_cnt, 0);
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        long long messages = 0;

        if (mt->topic[0] == '_' && mt->topic[1] == '_')
            continue; /* internal */
        if (mt->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            LOG_WARN("kafka: topic \"%s\": %s", mt->topic, rd_kafka_err2str(mt->err));
            bad++;
            continue;
        }
        smp_addv(out, "kafka_topic_partitions", mt->partition_cnt, 1, "topic", mt->topic);
        for (int p = 0; p < mt->partition_cnt; p++) {
            int64_t lo = -1, hi = -1;
            int id = mt->partitions[p].id;
            char pn[16];

            e = rd_kafka_query_watermark_offsets(rk, mt->topic, id, &lo, &hi, left_ms(deadline) + 1);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
                LOG_WARN("kafka: watermarks of %s [%d]: %s", mt->topic, id, rd_kafka_err2str(e));
                bad++;
                continue;
            }
            if (nmarks == cap) {
                size_t ncap = cap != 0 ? 2 * cap : 32;
                mark_t *nm = realloc(marks, ncap * sizeof(*nm));
                if (nm == NULL) {
                    snprintf(err, errsize, "out of memory");
                    goto out;
                }
                marks = nm;
                cap = ncap;
            }
            marks[nmarks++] = (mark_t){mt->topic, id, lo, hi};
            messages += hi - lo;
            snprintf(pn, sizeof(pn), "%d", id);
            smp_addv(out, "kafka_topic_partition_oldest_offset", (double)lo, 2, "topic", mt->topic, "partition", pn);
            smp_addv(out, "kafka_topic_partition_current_offset", (double)hi, 2, "topic", mt->topic, "partition",
                     pn);
        }
        smp_addv(out, "kafka_topic_messages", (double)messages, 1, "topic", mt->topic);
    }
    groups_failed = scrape_groups(rk, marks, nmarks, deadline, out);
    bad += groups_failed < 0 ? 1 : groups_failed;
    rc = 0;
out:
    if (partial != NULL)
        *partial = bad;
    free(marks);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return rc;
}
