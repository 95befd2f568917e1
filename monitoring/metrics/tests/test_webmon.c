/*
 * test_webmon.c - the Kafka UI REST API and Spark master JSON readers
 * (webmon.c) on bodies shaped as those services answer: clusters, topic
 * and consumer-group pages (consumerLag and the older messagesBehind), the
 * master's /json/, and bodies of the wrong shape.
 */
#include "webmon.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_kafkaui(void **state)
{
    static const char clusters[] =
        "[{\"name\":\"local\",\"defaultCluster\":true,\"status\":\"online\",\"brokerCount\":1,"
        "\"onlinePartitionCount\":9,\"topicCount\":3},{\"name\":\"dr\",\"status\":\"offline\"}]";
    static const char topics[] =
        "{\"pageCount\":2,\"topics\":[{\"name\":\"user-events\",\"internal\":false,\"partitionCount\":3,"
        "\"replicationFactor\":1,\"partitions\":[{\"partition\":0,\"offsetMax\":120,\"offsetMin\":20},"
        "{\"partition\":1,\"offsetMax\":5,\"offsetMin\":0}]},"
        "{\"name\":\"__consumer_offsets\",\"internal\":true,\"partitionCount\":50},"
        "{\"name\":\"transactions\",\"partitionCount\":3}]}";
    static const char groups_new[] =
        "{\"pageCount\":1,\"consumerGroups\":[{\"groupId\":\"ecom-stream\",\"members\":1,\"topics\":3,"
        "\"simple\":false,\"state\":\"STABLE\",\"consumerLag\":42}]}";
    static const char groups_old[] =
        "{\"pageCount\":1,\"consumerGroups\":[{\"groupId\":\"ecom-stream\",\"members\":2,\"messagesBehind\":7},"
        "{\"groupId\":\"idle\",\"members\":0,\"messagesBehind\":null}]}";
    char *names[WEB_MAX_CLUSTERS], err[128];
    smp_set_t s;

    (void)state;
    smp_init(&s);
    assert_int_equal(web_kafkaui_clusters(clusters, strlen(clusters), names, WEB_MAX_CLUSTERS, &s, err, sizeof(err)), 2);
    assert_string_equal(names[0], "local");
    assert_string_equal(names[1], "dr");
    free(names[0]);
    free(names[1]);
    assert_true(smp_get(&s, "kafkaui_cluster_online", -1, 1, "cluster", "local") == 1);
    assert_true(smp_get(&s, "kafkaui_cluster_online", -1, 1, "cluster", "dr") == 0);
    assert_true(smp_get(&s, "kafkaui_brokers", -1, 1, "cluster", "local") == 1);

    assert_int_equal(web_kafkaui_topics(topics, strlen(topics), "local", &s, err, sizeof(err)), 2);
    assert_true(smp_get(&s, "kafkaui_topic_partitions", -1, 2, "cluster", "local", "topic", "user-events") == 3);
    assert_true(smp_get(&s, "kafkaui_topic_messages", -1, 2, "cluster", "local", "topic", "user-events") == 105);
    assert_true(smp_get(&s, "kafkaui_topic_partitions", -1, 2, "cluster", "local", "topic", "__consumer_offsets") == -1);
    assert_true(smp_get(&s, "kafkaui_topic_partitions", -1, 2, "cluster", "local", "topic", "transactions") == 3);
    assert_true(smp_get(&s, "kafkaui_topic_messages", -1, 2, "cluster", "local", "topic", "transactions") == -1);

    assert_int_equal(web_kafkaui_groups(groups_new, strlen(groups_new), "local", &s, err, sizeof(err)), 1);
    assert_true(smp_get(&s, "kafkaui_consumergroup_lag", -1, 2, "cluster", "local", "group", "ecom-stream") == 42);
    smp_reset(&s);
    assert_int_equal(web_kafkaui_groups(groups_old, strlen(groups_old), "local", &s, err, sizeof(err)), 1);
    assert_true(smp_get(&s, "kafkaui_consumergroup_lag", -1, 2, "cluster", "local", "group", "ecom-stream") == 7);
    assert_true(smp_get(&s, "kafkaui_consumergroup_members", -1, 2, "cluster", "local", "group", "ecom-stream") == 2);
    assert_true(smp_get(&s, "kafkaui_consumergroup_lag", -1, 2, "cluster", "local", "group", "idle") == -1);

    assert_int_equal(web_kafkaui_groups("{\"groups\":[]}", 13, "local", &s, err, sizeof(err)), -1);
    assert_string_equal(err, "consumer groups: no \"consumerGroups\" array");
    assert_int_equal(web_kafkaui_clusters("<html>", 6, names, WEB_MAX_CLUSTERS, &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "clusters: not JSON"));
    assert_int_equal(web_kafkaui_topics(NULL, 0, "local", &s, err, sizeof(err)), -1);
    smp_free(&s);
}

static void test_spark(void **state)
{
    static const char master[] =
        "{\"url\":\"spark://127.0.0.1:7077\",\"workers\":[{\"id\":\"worker-1\",\"host\":\"127.0.0.1\",\"cores\":2,"
        "\"coresused\":1,\"memory\":1024,\"memoryused\":512,\"state\":\"ALIVE\"},{\"id\":\"worker-0\",\"state\":\"DEAD\"}],"
        "\"aliveworkers\":1,\"cores\":2,\"coresused\":1,\"memory\":1024,\"memoryused\":512,"
        "\"activeapps\":[{\"id\":\"app-1\"}],\"completedapps\":[{\"id\":\"app-0\"},{\"id\":\"app-00\"}],\"status\":\"ALIVE\"}";
    char err[128];
    smp_set_t s;

    (void)state;
    smp_init(&s);
    assert_int_equal(web_spark_master(master, strlen(master), &s, err, sizeof(err)), 0);
    assert_true(smp_get(&s, "spark_master_alive", -1, 0) == 1);
    assert_true(smp_get(&s, "spark_workers", -1, 1, "state", "alive") == 1);
    assert_true(smp_get(&s, "spark_workers", -1, 1, "state", "other") == 1);
    assert_true(smp_get(&s, "spark_cores", -1, 0) == 2);
    assert_true(smp_get(&s, "spark_cores_used", -1, 0) == 1);
    assert_true(smp_get(&s, "spark_memory_mb", -1, 0) == 1024);
    assert_true(smp_get(&s, "spark_memory_used_mb", -1, 0) == 512);
    assert_true(smp_get(&s, "spark_apps_active", -1, 0) == 1);
    assert_true(smp_get(&s, "spark_apps_completed", -1, 0) == 2);
    assert_int_equal(web_spark_master("{\"status\":\"STANDBY\"}", 20, &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected an object"));
    smp_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafkaui),
        cmocka_unit_test(test_spark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
