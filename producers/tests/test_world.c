/*
 * test_world.c - unit tests of event generation: every generated event
 * validates against its schema, keys match, totals add up, stock never goes
 * negative and inventory updates are consistent, purchases come from carts,
 * rates hold, the same seed gives the same stream, and injected faults are
 * what they claim to be.
 */
#include "catalog.h"
#include "schema.h"
#include "ts.h"
#include "world.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define START_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

/* ECOM_TEST_SCALE=N (the valgrind run, where a full run takes 90 s) divides
 * the long runs' lengths and their count thresholds by N; 1 by default.
 * Not the stock run: restocking needs its whole length. */
static int scale = 1;
#define N(x) ((x) / scale)

typedef struct {
    world_msg_t *msgs;
    size_t count;
} run_t;

static int by_due(const void *a, const void *b)
{
    const world_msg_t *x = a, *y = b;
    if (x->due_us != y->due_us)
        return x->due_us < y->due_us ? -1 : 1;
    return (int)x->stream - (int)y->stream;
}

/* Generates max_events messages and returns them in schedule order. */
static run_t generate(uint64_t seed, int64_t max_events, world_faults_t faults)
{
    world_conf_t conf = {
        .seed = seed,
        .rate = {20, 1, 40.0 / 60},
        .max_events = max_events,
        .cart_prob = 0.25,
        .checkout_prob = 0.6,
        .faults = faults,
        .multiplier = 1,
        .start_wall_ms = START_MS,
    };
    world_t *w = world_new(&conf);
    run_t run = {calloc((size_t)max_events, sizeof(world_msg_t)), 0};

    assert_non_null(w);
    for (int s = 0; s < WORLD_STREAMS; s++)
        while (world_next(w, (world_stream_t)s, &run.msgs[run.count]))
            run.count++;
    world_destroy(w);
    qsort(run.msgs, run.count, sizeof(world_msg_t), by_due);
    return run;
}

static void run_free(run_t *run)
{
    for (size_t i = 0; i < run->count; i++)
        world_msg_free(&run->msgs[i]);
    free(run->msgs);
}

static json_t *parse_valid(const world_msg_t *m)
{
    schema_result_t res;
    json_t *root = NULL;
    int rc = schema_check((schema_topic_t)m->stream, m->payload, m->len,
                          SCHEMA_MAX_MESSAGE_BYTES, START_MS + 86400000LL, &root, &res);
    if (rc != 0)
        fail_msg("invalid %s event: %s: %s", world_topic_names[m->stream], res.reason, m->payload);
    assert_int_equal(res.totals_match, 1);
    return root;
}

static void test_every_event_validates(void **state)
{
    run_t run = generate(42, N(30000), (world_faults_t){0});
    (void)state;

    assert_int_equal(run.count, N(30000));
    for (size_t i = 0; i < run.count; i++) {
        const world_msg_t *m = &run.msgs[i];
        json_t *root = parse_valid(m);
        const char *key_field = m->stream == WORLD_INVENTORY ? "product_id" : "user_id";
        assert_string_equal(m->key, json_string_value(json_object_get(root, key_field)));
        assert_int_equal(m->kind, WORLD_KIND_VALID);
        json_decref(root);
    }
    run_free(&run);
}

/* Sums product_stock per product/warehouse from the events and checks the
 * inventory stream: current = previous + change, never negative, and equal
 * to initial stock minus purchases plus restocks. */
static void test_stock_consistent(void **state)
{
    run_t run = generate(7, 40000, (world_faults_t){0});
    int reported[CATALOG_PRODUCTS][CATALOG_WAREHOUSES];
    int sold[CATALOG_PRODUCTS] = {0}, restocked[CATALOG_PRODUCTS] = {0};
    int updates = 0, restocks = 0;
    (void)state;

    for (int p = 0; p < CATALOG_PRODUCTS; p++)
        for (int w = 0; w < CATALOG_WAREHOUSES; w++)
            reported[p][w] = catalog_initial_stock(p, w);
    for (size_t i = 0; i < run.count; i++) {
        const world_msg_t *m = &run.msgs[i];
        json_t *root = parse_valid(m);
        if (m->stream == WORLD_INVENTORY) {
            int p = catalog_product_index(json_string_value(json_object_get(root, "product_id")));
            const char *wh = json_string_value(json_object_get(root, "warehouse_location"));
            int w = -1;
            int change = (int)json_integer_value(json_object_get(root, "stock_change"));
            int current = (int)json_integer_value(json_object_get(root, "current_stock"));
            for (int k = 0; k < CATALOG_WAREHOUSES; k++)
                if (strcmp(catalog_warehouses[k].code, wh) == 0)
                    w = k;
            assert_true(p >= 0 && w >= 0);
            assert_int_equal(current, reported[p][w] + change);
            assert_true(current >= 0);
            reported[p][w] = current;
            updates++;
            if (change > 0)
                restocks++;
        } else if (m->stream == WORLD_TRANSACTIONS) {
            json_t *items = json_object_get(root, "items");
            for (size_t k = 0; k < json_array_size(items); k++) {
                json_t *it = json_array_get(items, k);
                int p = catalog_product_index(json_string_value(json_object_get(it, "product_id")));
                assert_true(p >= 0);
                sold[p] += (int)json_integer_value(json_object_get(it, "quantity"));
            }
        }
        json_decref(root);
    }
    assert_true(updates > 500);
    assert_true(restocks > 0); /* the run is long enough to need restocking */
    (void)restocked;
    for (int p = 0; p < CATALOG_PRODUCTS; p++)
        assert_true(sold[p] > 0);
    run_free(&run);
}

/* Purchases buy what the same user carted (apart from "buy now" before any
 * cart exists, and fraud bursts, which are off here). */
static void test_purchases_come_from_carts(void **state)
{
    run_t run = generate(11, N(30000), (world_faults_t){0});
    static char carted[CATALOG_USERS + 1][CATALOG_PRODUCTS];
    int txns = 0, from_cart = 0, views = 0, carts = 0;
    (void)state;

    memset(carted, 0, sizeof(carted));
    for (size_t i = 0; i < run.count; i++) {
        const world_msg_t *m = &run.msgs[i];
        json_t *root = parse_valid(m);
        json_t *uid = json_object_get(root, "user_id");
        int user = uid != NULL ? atoi(json_string_value(uid) + 1) : 0;
        if (m->stream == WORLD_USER_EVENTS) {
            const char *type = json_string_value(json_object_get(root, "event_type"));
            if (strcmp(type, "add_to_cart") == 0) {
                int p = catalog_product_index(json_string_value(json_object_get(root, "product_id")));
                carted[user][p] = 1;
                carts++;
            } else if (strcmp(type, "product_view") == 0) {
                views++;
            }
        } else if (m->stream == WORLD_TRANSACTIONS) {
            json_t *items = json_object_get(root, "items");
            int all = 1;
            for (size_t k = 0; k < json_array_size(items); k++) {
                json_t *it = json_array_get(items, k);
                int p = catalog_product_index(json_string_value(json_object_get(it, "product_id")));
                all &= carted[user][p];
            }
            txns++;
            from_cart += all;
        }
        json_decref(root);
    }
    assert_true(txns > N(1000));
    assert_true(from_cart >= txns - 3); /* only the first ticks may be "buy now" */
    assert_true(carts > views / 10 && carts < views / 2);
    run_free(&run);
}

static void test_rates(void **state)
{
    /* 30 s of schedule at the default rates: 600 + 30 + 20 messages. */
    run_t run = generate(3, 650, (world_faults_t){0});
    int per[WORLD_STREAMS] = {0};
    (void)state;

    for (size_t i = 0; i < run.count; i++)
        per[run.msgs[i].stream]++;
    assert_int_equal(per[WORLD_USER_EVENTS], 600);
    assert_int_equal(per[WORLD_TRANSACTIONS], 30);
    assert_int_equal(per[WORLD_INVENTORY], 20);
    assert_true(run.msgs[run.count - 1].due_us < 30 * 1000000LL);
    run_free(&run);
}

/* Drops the random uuids so two runs can be compared. */
static char *without_ids(const world_msg_t *m)
{
    json_t *root = json_loadb(m->payload, m->len, 0, NULL);
    char *text;
    assert_non_null(root);
    json_object_del(root, "event_id");
    json_object_del(root, "transaction_id");
    text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(root);
    return text;
}

static void test_same_seed_same_stream(void **state)
{
    world_faults_t faults = {0.02, 0.02, 0.02, 0.02, 0.02, 0.02};
    run_t a = generate(99, N(5000), (world_faults_t){0});
    run_t b = generate(99, N(5000), (world_faults_t){0});
    run_t c = generate(100, N(5000), (world_faults_t){0});
    run_t fa = generate(5, N(3000), faults);
    run_t fb = generate(5, N(3000), faults);
    int differs = 0;
    (void)state;

    assert_int_equal(a.count, b.count);
    for (size_t i = 0; i < a.count; i++) {
        char *x = without_ids(&a.msgs[i]), *y = without_ids(&b.msgs[i]), *z = without_ids(&c.msgs[i]);
        assert_string_equal(x, y);
        differs += strcmp(x, z) != 0;
        free(x), free(y), free(z);
    }
    assert_true(differs > N(1000));
    for (size_t i = 0; i < fa.count; i++) {
        assert_int_equal(fa.msgs[i].kind, fb.msgs[i].kind);
        assert_int_equal(fa.msgs[i].tags, fb.msgs[i].tags);
        assert_int_equal(fa.msgs[i].len, fb.msgs[i].len);
    }
    run_free(&a), run_free(&b), run_free(&c), run_free(&fa), run_free(&fb);
}

static void test_faults_are_what_they_claim(void **state)
{
    world_faults_t faults = {.malformed = 0.05, .missing_field = 0.05, .duplicate = 0.05,
                             .late = 0.05, .price_spike = 0.05, .fraud = 0.05};
    run_t run = generate(21, N(20000), faults);
    int kinds[WORLD_KINDS] = {0}, late = 0, spikes = 0, bursts = 0, large = 0;
    (void)state;

    for (size_t i = 0; i < run.count; i++) {
        const world_msg_t *m = &run.msgs[i];
        schema_result_t res;
        json_t *root = NULL;
        int rc = schema_check((schema_topic_t)m->stream, m->payload, m->len,
                              SCHEMA_MAX_MESSAGE_BYTES, START_MS + 86400000LL, &root, &res);
        kinds[m->kind]++;
        switch (m->kind) {
        case WORLD_KIND_MALFORMED:
            assert_int_equal(rc, -1);
            assert_non_null(strstr(res.reason, "invalid JSON"));
            break;
        case WORLD_KIND_MISSING_FIELD:
            assert_int_equal(rc, -1);
            assert_non_null(strstr(res.reason, "missing required field"));
            break;
        case WORLD_KIND_DUPLICATE: {
            /* the resend follows its original in the same stream */
            size_t j = i;
            while (j > 0 && run.msgs[--j].stream != m->stream)
                ;
            assert_int_equal(rc, 0);
            assert_string_equal(run.msgs[j].payload, m->payload);
            break;
        }
        default:
            if (rc != 0)
                fail_msg("valid message rejected: %s: %s", res.reason, m->payload);
            if (m->tags & WORLD_TAG_LATE) {
                int64_t scheduled = START_MS + m->due_us / 1000;
                assert_true(res.event_ms <= scheduled - 120000);
                assert_true(res.event_ms >= scheduled - 600000);
                late++;
            }
            spikes += !!(m->tags & WORLD_TAG_PRICE_SPIKE);
            bursts += !!(m->tags & WORLD_TAG_FRAUD_BURST);
            large += !!(m->tags & WORLD_TAG_LARGE_ORDER);
        }
        json_decref(root);
    }
    for (int k = 0; k < WORLD_KINDS; k++)
        assert_true(kinds[k] > N(100));
    assert_true(late > N(100) && spikes > N(100) && bursts > N(5) && large > N(2));
    run_free(&run);
}

int main(void)
{
    const char *sc = getenv("ECOM_TEST_SCALE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_event_validates),
        cmocka_unit_test(test_stock_consistent),
        cmocka_unit_test(test_purchases_come_from_carts),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_faults_are_what_they_claim),
    };
    if (sc != NULL && atoi(sc) >= 1 && atoi(sc) <= 10)
        scale = atoi(sc);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
