/*
 * catalog.h - the one definition of the simulated shop: products, warehouses,
 * initial stock and the 1,000 users with their demographics.
 *
 * sql/init.sql seeds the same data (products, product_stock, users) with the
 * same formulas; tests compare `ecom-simulator --dump-catalog` with the
 * tables so the two cannot drift. Everything here is constant data or a pure
 * function of its arguments.
 */
#ifndef ECOM_CATALOG_H
#define ECOM_CATALOG_H

#include <stdint.h>
#include <stdio.h>

#define CATALOG_PRODUCTS 10
#define CATALOG_WAREHOUSES 4
#define CATALOG_USERS 1000

typedef struct {
    const char *product_id; /* "P001" */
    const char *name;
    const char *category;
    int64_t price_cents;
} catalog_product_t;

typedef struct {
    const char *code; /* "NYC" */
    const char *city;
} catalog_warehouse_t;

typedef struct {
    char user_id[8]; /* "U0001" */
    int age;
    const char *gender;
    const char *city;
    const char *country;
    char signup_date[11]; /* "2023-05-17" */
    const char *segment;
} catalog_user_t;

extern const catalog_product_t catalog_products[CATALOG_PRODUCTS];
extern const catalog_warehouse_t catalog_warehouses[CATALOG_WAREHOUSES];

/* Initial units of product index p (0-based) in warehouse w (0-based). */
int catalog_initial_stock(int p, int w);

/* Fills out with user number n, 1..CATALOG_USERS. */
void catalog_user(int n, catalog_user_t *out);

/* Index of a product id, or -1. */
int catalog_product_index(const char *product_id);

/* Writes the catalog as CSV sections "products", "product_stock", "users"
 * (header line per section, rows ordered by key) for consistency checks. */
void catalog_dump_csv(FILE *out);

#endif
