/*
 * webmon.h - the JSON APIs the collector reads over HTTP, as samples:
 * the Kafka UI REST API (the docker-compose stack's provectus/kafbat
 * kafka-ui) and the Spark master's /json/. Pure: the caller fetches
 * (httpget.h), these read the bodies.
 *
 * Kafka UI, per cluster (GET /api/clusters lists them):
 *   kafkaui_cluster_online{cluster}            1 when its status is "online"
 *   kafkaui_brokers{cluster}                   brokerCount
 *   kafkaui_topic_partitions{cluster,topic}    from /api/clusters/{c}/topics
 *   kafkaui_topic_messages{cluster,topic}      sum of offsetMax - offsetMin, when partitions are listed
 *   kafkaui_consumergroup_lag{cluster,group}   consumerLag, or the older messagesBehind
 *   kafkaui_consumergroup_members{cluster,group}
 * Spark master:
 *   spark_master_alive, spark_workers{state}, spark_cores, spark_cores_used,
 *   spark_memory_mb, spark_memory_used_mb, spark_apps_active, spark_apps_completed
 * A body that is not the JSON expected returns -1 with the reason in err.
 */
#ifndef ECOM_WEBMON_H
#define ECOM_WEBMON_H

#include "sample.h"

#include <stddef.h>

#define WEB_MAX_CLUSTERS 16

/* The cluster names of GET /api/clusters into names (malloc'ed strings,
 * the caller frees each). Returns how many, or -1. */
int web_kafkaui_clusters(const char *body, size_t len, char **names, int max, smp_set_t *out,
                         char *err, size_t errsize);
/* GET /api/clusters/{c}/topics (a page: {"pageCount":..,"topics":[...]}).
 * Returns the page count, or -1. */
int web_kafkaui_topics(const char *body, size_t len, const char *cluster, smp_set_t *out, char *err,
                       size_t errsize);
/* GET /api/clusters/{c}/consumer-groups/paged. Returns the page count, or -1. */
int web_kafkaui_groups(const char *body, size_t len, const char *cluster, smp_set_t *out, char *err,
                       size_t errsize);
/* GET {spark master UI}/json/. Returns 0 or -1. */
int web_spark_master(const char *body, size_t len, smp_set_t *out, char *err, size_t errsize);

#endif
