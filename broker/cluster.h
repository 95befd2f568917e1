/*
 * cluster.h - the in-memory Kafka cluster behind ecom-broker: a librdkafka
 * mock cluster hosted by a producer handle, plus its topics.
 *
 * Owns the hosting rd_kafka_t and the rd_kafka_mock_cluster_t; both live
 * until mockc_destroy(). The mock cluster runs on its own librdkafka thread
 * and listens on ephemeral loopback ports (mockc_bootstraps()); it knows
 * nothing about ecom-broker's fixed bootstrap address (see forwarder.h).
 * Everything is kept in memory and lost on destroy.
 */
#ifndef ECOM_BROKER_CLUSTER_H
#define ECOM_BROKER_CLUSTER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct mockc mockc_t;

/* Creates the hosting handle from conf (always takes ownership of conf, also
 * on failure) and a mock cluster with broker_cnt brokers, ids 1..broker_cnt.
 * Returns NULL with errbuf filled on failure. Free with mockc_destroy(). */
mockc_t *mockc_new(rd_kafka_conf_t *conf, int broker_cnt, char *errbuf,
                   size_t errsize);

/* Creates topic with partition_cnt partitions, asking for replication
 * factor 1, and makes broker (p % broker_cnt) + 1 the leader of partition p.
 * librdkafka 2.0.2 ignores the requested factor (every partition lists the
 * first min(3, broker_cnt) brokers as replicas) and picks a random leader;
 * round-robin leaders keep the layout predictable. Returns 0, or -1 with
 * errbuf filled (e.g. the topic already exists). */
int mockc_topic_create(mockc_t *mc, const char *topic, int partition_cnt,
                       char *errbuf, size_t errsize);

/* The mock brokers' own "host:port,host:port" list, valid until destroy. */
const char *mockc_bootstraps(const mockc_t *mc);
int mockc_broker_count(const mockc_t *mc);

/* Takes every mock broker down (closing client connections and refusing new
 * ones, as if Kafka were unreachable) or brings them back up; the data and
 * groups are kept. */
void mockc_set_brokers_up(mockc_t *mc, int up);

/* Serves the hosting handle's error callbacks; call from the run loop. */
void mockc_poll(mockc_t *mc);

/* Destroys the cluster (closing the mock brokers' connections), then the
 * handle. Accepts NULL. */
void mockc_destroy(mockc_t *mc);

#endif
