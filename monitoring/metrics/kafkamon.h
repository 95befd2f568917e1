/*
 * kafkamon.h - Kafka as a Kafka UI shows it, read through librdkafka: the
 * brokers, every topic's partitions with their low and high watermarks,
 * and every consumer group's committed offsets and lag per partition.
 *
 * Samples (named as kafka_exporter names them, so dashboards built for it
 * read the same numbers):
 *   kafka_brokers                                          brokers in the metadata
 *   kafka_topic_partitions{topic}
 *   kafka_topic_partition_oldest_offset{topic,partition}   low watermark
 *   kafka_topic_partition_current_offset{topic,partition}  high watermark
 *   kafka_topic_messages{topic}                            sum of high - low
 *   kafka_consumergroups                                   groups listed
 *   kafka_consumergroup_current_offset{group,topic,partition}
 *   kafka_consumergroup_lag{group,topic,partition}         high - committed (>= 0)
 *   kafka_consumergroup_lag_sum{group}
 *   kafka_consumergroup_state{group,state}                 1
 * Internal topics (__consumer_offsets, ...) are left out. A partition
 * without a committed offset has no lag sample (Kafka UI shows none).
 *
 * Bounded: every request shares the one deadline of timeout_ms. Blocking;
 * called on the collector's thread. Owns no state between scrapes.
 */
#ifndef ECOM_KAFKAMON_H
#define ECOM_KAFKAMON_H

#include "sample.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* The lag of a committed offset against a high watermark: hi - committed,
 * 0 when the commit is ahead (a stale watermark), -1 when there is no
 * commit (committed < 0). Pure. */
long long kmon_lag(long long hi, long long committed);

/* Scrapes rk's cluster into out. Returns 0; or -1 with the reason in err
 * when the cluster could not be read at all (no metadata). Errors of one
 * partition or one group are logged, counted in *partial (may be NULL)
 * and skipped. */
int kmon_scrape(rd_kafka_t *rk, int timeout_ms, smp_set_t *out, int *partial,
                char *err, size_t errsize);

#endif
