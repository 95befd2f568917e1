/*
 * shop.h - the state behind the events: concurrent user sessions with a
 * view -> add_to_cart -> checkout funnel, carts, the checkout queue, stock
 * per product and warehouse, and the fraud-burst state. shop_generate()
 * turns one scheduled tick of a stream into one event.
 *
 * Invariants: stock never goes negative (an out-of-stock product cannot be
 * bought); for each product and warehouse, consecutive valid inventory
 * updates satisfy current = previous current + stock_change. Events that are
 * injected as broken (malformed, missing field) change nothing: the pipeline
 * will reject them, so the shop behaves as if they never happened.
 * Not thread-safe: world.c holds its lock around every call.
 */
#ifndef ECOM_SHOP_H
#define ECOM_SHOP_H

#include "catalog.h"
#include "events.h"
#include "rng.h"
#include "world.h"

#define SHOP_SESSIONS 64
#define SHOP_CART_MAX EVENTS_MAX_ITEMS
#define SHOP_CHECKOUT_MAX 256
#define SHOP_RESTOCK_BELOW 30

typedef struct {
    int product;
    int qty;
} shop_line_t;

typedef struct {
    int user; /* 1..CATALOG_USERS, 0 = free slot */
    int64_t session_no;
    int interest; /* category index, -1 = none */
    int last_viewed;
    int events_left;
    shop_line_t cart[SHOP_CART_MAX];
    int cart_len;
} shop_session_t;

typedef struct {
    int user;
    shop_line_t cart[SHOP_CART_MAX];
    int cart_len;
} shop_checkout_t;

typedef struct {
    rng_t rng;    /* every simulated choice */
    rng_t id_rng; /* uuids only: random per run, outside determinism */
    double cart_prob;
    double checkout_prob;
    shop_session_t sessions[SHOP_SESSIONS];
    int64_t session_counter;
    shop_checkout_t checkout[SHOP_CHECKOUT_MAX];
    int checkout_head;
    int checkout_len;
    int stock[CATALOG_PRODUCTS][CATALOG_WAREHOUSES];
    int reported[CATALOG_PRODUCTS][CATALOG_WAREHOUSES];
    int inventory_cursor;
    int fraud_user;
    int fraud_left;
    char ip_address[CATALOG_USERS + 1][16]; /* per user, precomputed */
    char user_id[CATALOG_USERS + 1][8];     /* "U0001", precomputed */
} shop_t;

void shop_init(shop_t *shop, uint64_t seed, double cart_prob, double checkout_prob);

/* Generates one event of stream s into js and key. kind says whether it will
 * be sent broken (then the shop state is left as it was; for
 * WORLD_KIND_MISSING_FIELD one required field is left out). Adds tags.
 * Returns 1 when an event was written, 0 when the tick produced nothing
 * (everything out of stock), -1 on error. */
int shop_generate(shop_t *shop, world_stream_t s, world_kind_t kind,
                  const world_faults_t *faults, int64_t ts_ms, js_writer_t *js,
                  char key[8], unsigned *tags);

#endif
