/*
 * catalog.c - products, warehouses, stock and users (see catalog.h).
 * The formulas here are mirrored in sql/init.sql; change both together.
 */
#include "catalog.h"
#include "ts.h"

#include <string.h>

const catalog_product_t catalog_products[CATALOG_PRODUCTS] = {
    {"P001", "iPhone 15 Pro", "Electronics", 99999},
    {"P002", "Samsung Galaxy S24", "Electronics", 84999},
    {"P003", "MacBook Air M3", "Electronics", 129900},
    {"P004", "Sony WH-1000XM5 Headphones", "Electronics", 39999},
    {"P005", "Nike Air Max 270", "Footwear", 15000},
    {"P006", "Adidas Ultraboost 23", "Footwear", 19000},
    {"P007", "Levi's 501 Original Jeans", "Clothing", 6950},
    {"P008", "The North Face Nuptse Jacket", "Clothing", 32000},
    {"P009", "Instant Pot Duo 7-in-1", "Home & Kitchen", 8999},
    {"P010", "Dyson V15 Detect Vacuum", "Home & Kitchen", 74999},
};

const catalog_warehouse_t catalog_warehouses[CATALOG_WAREHOUSES] = {
    {"NYC", "New York"},
    {"LAX", "Los Angeles"},
    {"CHI", "Chicago"},
    {"MIA", "Miami"},
};

static const struct {
    const char *city;
    const char *country;
} user_cities[10] = {
    {"New York", "US"}, {"Los Angeles", "US"}, {"Chicago", "US"},
    {"London", "GB"},   {"Berlin", "DE"},      {"Paris", "FR"},
    {"Toronto", "CA"},  {"Sydney", "AU"},      {"Tokyo", "JP"},
    {"Sao Paulo", "BR"},
};

int catalog_initial_stock(int p, int w)
{
    int n = p + 1;
    return 40 + ((n * 37 + w * 23) % 11) * 10;
}

/* The per-user pseudo-random draw k, as in sql/init.sql. */
static int64_t user_draw(int n, int k)
{
    return ((int64_t)n * 2654435761LL + (int64_t)k * 40503) % 1000003;
}

void catalog_user(int n, catalog_user_t *out)
{
    int64_t gender = user_draw(n, 2) % 100;
    int64_t segment = user_draw(n, 5) % 100;
    int64_t city = user_draw(n, 3) % 10;
    char stamp[TS_RFC3339_LEN];
    /* 2023-01-01T00:00:00Z plus x days */
    int64_t day_ms = (1672531200LL + user_draw(n, 4) % 1000 * 86400) * 1000;

    snprintf(out->user_id, sizeof(out->user_id), "U%04d", n);
    out->age = 18 + (int)(user_draw(n, 1) % 58);
    out->gender = gender < 48 ? "female" : gender < 96 ? "male" : "non_binary";
    out->city = user_cities[city].city;
    out->country = user_cities[city].country;
    ts_format_rfc3339(day_ms, stamp);
    memcpy(out->signup_date, stamp, 10);
    out->signup_date[10] = '\0';
    out->segment = segment < 25   ? "new"
                   : segment < 80 ? "regular"
                   : segment < 90 ? "vip"
                                  : "bargain_hunter";
}

int catalog_product_index(const char *product_id)
{
    for (int i = 0; i < CATALOG_PRODUCTS; i++)
        if (strcmp(catalog_products[i].product_id, product_id) == 0)
            return i;
    return -1;
}

void catalog_dump_csv(FILE *out)
{
    fprintf(out, "products\nproduct_id,product_name,category,price\n");
    for (int i = 0; i < CATALOG_PRODUCTS; i++) {
        const catalog_product_t *p = &catalog_products[i];
        fprintf(out, "%s,\"%s\",%s,%lld.%02lld\n", p->product_id, p->name,
                p->category, (long long)(p->price_cents / 100),
                (long long)(p->price_cents % 100));
    }
    fprintf(out, "product_stock\nproduct_id,warehouse_location,initial_stock\n");
    for (int i = 0; i < CATALOG_PRODUCTS; i++)
        for (int w = 0; w < CATALOG_WAREHOUSES; w++)
            fprintf(out, "%s,%s,%d\n", catalog_products[i].product_id,
                    catalog_warehouses[w].code, catalog_initial_stock(i, w));
    fprintf(out, "users\nuser_id,age,gender,city,country,signup_date,segment\n");
    for (int n = 1; n <= CATALOG_USERS; n++) {
        catalog_user_t u;
        catalog_user(n, &u);
        fprintf(out, "%s,%d,%s,%s,%s,%s,%s\n", u.user_id, u.age, u.gender,
                u.city, u.country, u.signup_date, u.segment);
    }
}
