/*
 * test_catalog.c - unit tests for common/catalog.c: products, warehouses,
 * initial stock and the 1,000 users. The user attributes are recomputed here
 * from the documented formula x(i, k) = (i * 2654435761 + k * 40503) % 1000003
 * (the same one sql/init.sql uses), with dates from glibc rather than ts.c,
 * and a few rows are pinned to values worked out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void test_products(void **state)
{
    static const char *const categories[] = {"Electronics", "Footwear", "Clothing",
                                             "Home & Kitchen"};
    (void)state;

    assert_int_equal(CATALOG_PRODUCTS, 10);
    for (int i = 0; i < CATALOG_PRODUCTS; i++) {
        const catalog_product_t *p = &catalog_products[i];
        char want_id[8];
        int known_category = 0;

        snprintf(want_id, sizeof(want_id), "P%03d", i + 1);
        assert_string_equal(p->product_id, want_id);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(p->product_id, catalog_products[j].product_id);
        assert_non_null(p->name);
        assert_true(strlen(p->name) > 0);
        assert_null(strchr(p->name, '"')); /* dumped inside CSV quotes */
        for (size_t c = 0; c < N_ELEMS(categories); c++)
            known_category |= strcmp(p->category, categories[c]) == 0;
        if (!known_category)
            fail_msg("%s has unknown category \"%s\"", p->product_id, p->category);
        if (p->price_cents <= 0 || p->price_cents > 1000000)
            fail_msg("%s has price %lld cents", p->product_id, (long long)p->price_cents);
    }
    /* pinned prices, as in sql/init.sql */
    assert_int_equal(catalog_products[0].price_cents, 99999);
    assert_int_equal(catalog_products[2].price_cents, 129900);
    assert_int_equal(catalog_products[6].price_cents, 6950);
    assert_int_equal(catalog_products[9].price_cents, 74999);
}

static const struct {
    const char *id;
    int index;
} index_cases[] = {
    {"P001", 0}, {"P005", 4}, {"P010", 9},
    {"P000", -1}, {"P011", -1}, {"", -1}, {"p001", -1}, {"P01", -1},
    {"P0010", -1}, {"P001 ", -1}, {" P001", -1}, {"U0001", -1},
};

static void test_product_index(void **state)
{
    (void)state;
    for (int i = 0; i < CATALOG_PRODUCTS; i++)
        assert_int_equal(catalog_product_index(catalog_products[i].product_id), i);
    for (size_t i = 0; i < N_ELEMS(index_cases); i++) {
        int got = catalog_product_index(index_cases[i].id);
        if (got != index_cases[i].index)
            fail_msg("index of \"%s\": got %d, want %d", index_cases[i].id, got,
                     index_cases[i].index);
    }
}

static void test_warehouses(void **state)
{
    static const char *const codes[] = {"NYC", "LAX", "CHI", "MIA"};
    (void)state;

    assert_int_equal(CATALOG_WAREHOUSES, (int)N_ELEMS(codes));
    for (int w = 0; w < CATALOG_WAREHOUSES; w++) {
        assert_string_equal(catalog_warehouses[w].code, codes[w]);
        assert_true(strlen(catalog_warehouses[w].city) > 0);
    }
}

/* 40 + ((n * 37 + w * 23) % 11) * 10 with n = p + 1, worked out by hand. */
static const struct {
    int p, w, units;
} stock_cases[] = {
    {0, 0, 80},   /* 37 % 11 = 4 */
    {0, 1, 90},   /* 60 % 11 = 5 */
    {0, 3, 110},  /* 106 % 11 = 7 */
    {1, 2, 140},  /* 120 % 11 = 10 */
    {1, 3, 40},   /* 143 % 11 = 0 */
    {4, 2, 40},   /* 231 % 11 = 0 */
    {7, 0, 140},  /* 296 % 11 = 10 */
    {9, 0, 110},  /* 370 % 11 = 7 */
    {9, 3, 140},  /* 439 % 11 = 10 */
};

static void test_initial_stock(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(stock_cases); i++) {
        int got = catalog_initial_stock(stock_cases[i].p, stock_cases[i].w);
        if (got != stock_cases[i].units)
            fail_msg("stock(%d, %d): got %d, want %d", stock_cases[i].p,
                     stock_cases[i].w, got, stock_cases[i].units);
    }
    for (int p = 0; p < CATALOG_PRODUCTS; p++) {
        for (int w = 0; w < CATALOG_WAREHOUSES; w++) {
            int units = catalog_initial_stock(p, w);
            if (units < 40 || units > 140 || units % 10 != 0)
                fail_msg("stock(%d, %d) = %d, want a multiple of 10 in 40..140", p, w,
                         units);
        }
    }
}

/* The formula, independently of catalog.c. */
static int64_t x(int64_t i, int64_t k)
{
    return (i * 2654435761LL + k * 40503LL) % 1000003LL;
}

static void expected_signup(int64_t i, char out[11])
{
    time_t t = (time_t)(1672531200LL + x(i, 4) % 1000 * 86400); /* 2023-01-01 + n days */
    struct tm tm;

    assert_non_null(gmtime_r(&t, &tm));
    assert_int_equal(strftime(out, 11, "%Y-%m-%d", &tm), 10);
}

static void test_users_properties(void **state)
{
    static const char *const genders[] = {"female", "male", "non_binary"};
    static const char *const segments[] = {"new", "regular", "vip", "bargain_hunter"};
    static const char *const cities[][2] = {
        {"New York", "US"}, {"Los Angeles", "US"}, {"Chicago", "US"},
        {"London", "GB"},   {"Berlin", "DE"},      {"Paris", "FR"},
        {"Toronto", "CA"},  {"Sydney", "AU"},      {"Tokyo", "JP"},
        {"Sao Paulo", "BR"},
    };
    static char seen[CATALOG_USERS + 1][8];
    int gender_count[3] = {0}, segment_count[4] = {0};
    (void)state;

    assert_int_equal(CATALOG_USERS, 1000);
    for (int n = 1; n <= CATALOG_USERS; n++) {
        catalog_user_t u;
        char want_id[8], want_date[11];
        int g = -1, s = -1, c = -1;

        memset(&u, 0xa5, sizeof(u));
        catalog_user(n, &u);
        snprintf(want_id, sizeof(want_id), "U%04d", n);
        if (strcmp(u.user_id, want_id) != 0)
            fail_msg("user %d has id \"%s\"", n, u.user_id);
        memcpy(seen[n], u.user_id, sizeof(seen[n]));

        if (u.age < 18 || u.age > 75 || u.age != 18 + (int)(x(n, 1) % 58))
            fail_msg("%s: age %d", u.user_id, u.age);
        for (int j = 0; j < 3; j++)
            if (strcmp(u.gender, genders[j]) == 0)
                g = j;
        for (int j = 0; j < 4; j++)
            if (strcmp(u.segment, segments[j]) == 0)
                s = j;
        for (int j = 0; j < 10; j++)
            if (strcmp(u.city, cities[j][0]) == 0 && strcmp(u.country, cities[j][1]) == 0)
                c = j;
        if (g < 0 || s < 0 || c < 0)
            fail_msg("%s: gender \"%s\", segment \"%s\", city \"%s\"/\"%s\"", u.user_id,
                     u.gender, u.segment, u.city, u.country);
        gender_count[g]++;
        segment_count[s]++;

        /* the formula's thresholds */
        {
            int64_t xg = x(n, 2) % 100, xs = x(n, 5) % 100;
            int want_g = xg < 48 ? 0 : xg < 96 ? 1 : 2;
            int want_s = xs < 25 ? 0 : xs < 80 ? 1 : xs < 90 ? 2 : 3;
            if (g != want_g || s != want_s || c != (int)(x(n, 3) % 10))
                fail_msg("%s: gender/segment/city do not follow the formula", u.user_id);
        }

        expected_signup(n, want_date);
        if (strlen(u.signup_date) != 10 || strcmp(u.signup_date, want_date) != 0)
            fail_msg("%s: signup_date \"%s\", want \"%s\"", u.user_id, u.signup_date,
                     want_date);
        /* ISO dates compare as strings */
        if (strcmp(u.signup_date, "2023-01-01") < 0 ||
            strcmp(u.signup_date, "2025-09-27") > 0)
            fail_msg("%s: signup_date %s out of range", u.user_id, u.signup_date);
    }
    /* ids are unique */
    for (int a = 1; a <= CATALOG_USERS; a++)
        for (int b = a + 1; b <= CATALOG_USERS; b++)
            if (strcmp(seen[a], seen[b]) == 0)
                fail_msg("users %d and %d share id %s", a, b, seen[a]);
    /* every category occurs */
    for (int j = 0; j < 3; j++)
        assert_true(gender_count[j] > 0);
    for (int j = 0; j < 4; j++)
        assert_true(segment_count[j] > 0);
}

/* Rows worked out by hand from x(i, k):
 *   U0001: x = 468302, 508805, 549308, 589811, 630314
 *     age 18 + 468302 % 58 = 18 + 10 = 28; 508805 % 100 = 5 -> female;
 *     549308 % 10 = 8 -> Tokyo/JP; 589811 % 1000 = 811 -> 2023-01-01 + 811 d
 *     = 2025-03-22; 630314 % 100 = 14 -> new
 *   U0500: x = 939364, 979867, 20367, 60870, 101373
 *     age 18 + 54 = 72; 67 -> male; 7 -> Sydney/AU; 870 d -> 2025-05-20;
 *     73 -> regular
 *   U1000: x = 838222, 878725, 919228, 959731, 231
 *     age 18 + 6 = 24; 25 -> female; 8 -> Tokyo/JP; 731 d -> 2025-01-01;
 *     31 -> regular */
static const struct {
    int n;
    catalog_user_t want;
} pinned[] = {
    {1, {"U0001", 28, "female", "Tokyo", "JP", "2025-03-22", "new"}},
    {2, {"U0002", 19, "female", "Sydney", "AU", "2024-08-30", "new"}},
    {500, {"U0500", 72, "male", "Sydney", "AU", "2025-05-20", "regular"}},
    {1000, {"U1000", 24, "female", "Tokyo", "JP", "2025-01-01", "regular"}},
};

static void test_users_pinned(void **state)
{
    (void)state;
    assert_int_equal(x(1, 1), 468302);
    assert_int_equal(x(1000, 5), 231);
    for (size_t i = 0; i < N_ELEMS(pinned); i++) {
        const catalog_user_t *w = &pinned[i].want;
        catalog_user_t u;

        catalog_user(pinned[i].n, &u);
        if (strcmp(u.user_id, w->user_id) != 0 || u.age != w->age ||
            strcmp(u.gender, w->gender) != 0 || strcmp(u.city, w->city) != 0 ||
            strcmp(u.country, w->country) != 0 ||
            strcmp(u.signup_date, w->signup_date) != 0 ||
            strcmp(u.segment, w->segment) != 0)
            fail_msg("user %d: got %s,%d,%s,%s,%s,%s,%s; want %s,%d,%s,%s,%s,%s,%s",
                     pinned[i].n, u.user_id, u.age, u.gender, u.city, u.country,
                     u.signup_date, u.segment, w->user_id, w->age, w->gender, w->city,
                     w->country, w->signup_date, w->segment);
    }
}

static void test_dump_csv(void **state)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&buf, &size);
    const char *head = "products\nproduct_id,product_name,category,price\n"
                       "P001,\"iPhone 15 Pro\",Electronics,999.99\n";
    int lines = 0;
    (void)state;

    assert_non_null(fp);
    catalog_dump_csv(fp);
    assert_int_equal(fclose(fp), 0);
    for (size_t i = 0; i < size; i++)
        lines += buf[i] == '\n';
    /* 3 sections of title + header + rows */
    assert_int_equal(lines, 2 + CATALOG_PRODUCTS + 2 +
                                CATALOG_PRODUCTS * CATALOG_WAREHOUSES + 2 + CATALOG_USERS);
    assert_true(strncmp(buf, head, strlen(head)) == 0);
    assert_non_null(strstr(buf, "\nP007,\"Levi's 501 Original Jeans\",Clothing,69.50\n"));
    assert_non_null(strstr(buf, "\nP003,\"MacBook Air M3\",Electronics,1299.00\n"));
    assert_non_null(strstr(buf, "\nproduct_stock\nproduct_id,warehouse_location,initial_stock\n"
                                "P001,NYC,80\nP001,LAX,90\n"));
    assert_non_null(strstr(buf, "\nP010,MIA,140\nusers\n"
                                "user_id,age,gender,city,country,signup_date,segment\n"
                                "U0001,28,female,Tokyo,JP,2025-03-22,new\n"));
    assert_non_null(strstr(buf, "\nU1000,24,female,Tokyo,JP,2025-01-01,regular\n"));
    assert_int_equal(buf[size - 1], '\n');
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_product_index),
        cmocka_unit_test(test_warehouses),
        cmocka_unit_test(test_initial_stock),
        cmocka_unit_test(test_users_properties),
        cmocka_unit_test(test_users_pinned),
        cmocka_unit_test(test_dump_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
