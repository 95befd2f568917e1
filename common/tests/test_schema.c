/*
 * test_schema.c - unit tests for what common/schema.c owns besides the
 * validation rules (stream/tests/test_rows.c and the fuzz corpus cover
 * those): the topic table and name lookup, and reasons that stay valid
 * UTF-8 when they quote message text cut inside a character.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "utf8.h"

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static void test_topic_table(void **state)
{
    static const char *const names[SCHEMA_TOPICS] = {"user-events", "transactions",
                                                     "inventory-updates"};
    (void)state;

    for (int t = 0; t < SCHEMA_TOPICS; t++) {
        assert_string_equal(schema_topics[t].name, names[t]);
        assert_int_equal(schema_topic_from_name(names[t]), t);
        assert_non_null(schema_topics[t].table);
    }
    assert_string_equal(schema_topics[SCHEMA_USER_EVENTS].table, "user_events");
    assert_string_equal(schema_topics[SCHEMA_TRANSACTIONS].table, "transactions");
    assert_string_equal(schema_topics[SCHEMA_TRANSACTIONS].items_table, "transaction_items");
    assert_null(schema_topics[SCHEMA_USER_EVENTS].items_table);
    assert_string_equal(schema_topics[SCHEMA_INVENTORY].table, "inventory_updates");
    assert_int_equal(schema_topic_from_name("no-such-topic"), -1);
    assert_int_equal(schema_topic_from_name("user_events"), -1);
}

/* The reason quotes 40 bytes of the event type ("%.40s"): 39 ASCII bytes
 * and then a two-byte character cut after its first byte. */
static void test_reason_stays_utf8(void **state)
{
    char type[48], msg[512];
    schema_result_t res;
    (void)state;

    memset(type, 'x', 39);
    memcpy(type + 39, "\xc3\xa9", 3); /* and the NUL */
    snprintf(msg, sizeof(msg),
             "{\"event_id\":\"0b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10\",\"user_id\":\"U1\","
             "\"event_type\":\"%s\",\"timestamp\":\"2025-12-31T10:00:00Z\",\"session_id\":\"s\"}",
             type);
    assert_int_equal(schema_check(SCHEMA_USER_EVENTS, msg, strlen(msg), SCHEMA_MAX_MESSAGE_BYTES,
                                  NOW_MS, NULL, &res),
                     -1);
    assert_non_null(strstr(res.reason, "unknown event_type"));
    assert_true(utf8_is_text(res.reason, strlen(res.reason)));
    assert_non_null(strstr(res.reason, "xxx?\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_table),
        cmocka_unit_test(test_reason_stays_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
