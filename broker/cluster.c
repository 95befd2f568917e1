/*
 * cluster.c - the librdkafka mock cluster and its topics (see cluster.h).
 * Owns the hosting producer handle and the mock cluster. Does not own any
 * network listener of its own: the fixed bootstrap port is forwarder.c's.
 */
#include "cluster.h"
#include "elog.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

struct mockc {
    rd_kafka_t *rk;                  /* hosts the cluster, never produces */
    rd_kafka_mock_cluster_t *mcluster;
    int broker_cnt;
};

mockc_t *mockc_new(rd_kafka_conf_t *conf, int broker_cnt, char *errbuf,
                   size_t errsize)
{
    mockc_t *mc = NULL;
    char liberr[512];

    mc = calloc(1, sizeof(*mc));
    if (mc == NULL) {
        snprintf(errbuf, errsize, "out of memory");
        goto fail;
    }
    mc->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, liberr, sizeof(liberr));
    if (mc->rk == NULL) {
        snprintf(errbuf, errsize, "could not create the Kafka handle hosting the mock cluster: %s",
                 liberr);
        goto fail;
    }
    conf = NULL; /* owned by mc->rk now */
    mc->mcluster = rd_kafka_mock_cluster_new(mc->rk, broker_cnt);
    if (mc->mcluster == NULL) {
        snprintf(errbuf, errsize, "could not create a mock cluster with %d broker(s) (see the librdkafka log above)",
                 broker_cnt);
        goto fail;
    }
    mc->broker_cnt = broker_cnt;
    return mc;

fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    mockc_destroy(mc);
    return NULL;
}

int mockc_topic_create(mockc_t *mc, const char *topic, int partition_cnt,
                       char *errbuf, size_t errsize)
{
    rd_kafka_resp_err_t err;

    err = rd_kafka_mock_topic_create(mc->mcluster, topic, partition_cnt, 1);
    if (err) {
        snprintf(errbuf, errsize, "could not create topic \"%s\": %s", topic,
                 rd_kafka_err2str(err));
        return -1;
    }
    /* The mock picks a random leader among its replicas; place leaders
     * round-robin instead so that every broker serves some partitions. */
    for (int p = 0; mc->broker_cnt > 1 && p < partition_cnt; p++) {
        int32_t leader = (int32_t)(p % mc->broker_cnt) + 1;

        err = rd_kafka_mock_partition_set_leader(mc->mcluster, topic, p, leader);
        if (err) {
            snprintf(errbuf, errsize, "could not move the leader of \"%s\" [%d] to broker %d: %s",
                     topic, p, (int)leader, rd_kafka_err2str(err));
            return -1;
        }
    }
    LOG_DEBUG("created topic \"%s\" with %d partition(s)", topic, partition_cnt);
    return 0;
}

const char *mockc_bootstraps(const mockc_t *mc)
{
    return rd_kafka_mock_cluster_bootstraps(mc->mcluster);
}

int mockc_broker_count(const mockc_t *mc) { return mc->broker_cnt; }

void mockc_poll(mockc_t *mc) { rd_kafka_poll(mc->rk, 0); }

void mockc_set_brokers_up(mockc_t *mc, int up)
{
    for (int id = 1; id <= mc->broker_cnt; id++) {
        rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(mc->mcluster, id)
                                     : rd_kafka_mock_broker_set_down(mc->mcluster, id);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            LOG_ERROR("could not set mock broker %d %s: %s", id, up ? "up" : "down",
                      rd_kafka_err2str(err));
    }
}

void mockc_destroy(mockc_t *mc)
{
    if (mc == NULL)
        return;
    if (mc->mcluster != NULL)
        rd_kafka_mock_cluster_destroy(mc->mcluster);
    if (mc->rk != NULL)
        rd_kafka_destroy(mc->rk);
    free(mc);
}
