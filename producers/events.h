/*
 * events.h - the three event types as plain structs, and their JSON
 * serialization exactly as documented (shared/original-design.md):
 * field names, types, and which fields appear for which event type.
 *
 * The serializers append to a js_writer_t. `skip` names one field to leave
 * out (fault injection: "missing required field"), or NULL.
 * Money is integer cents. Structs hold borrowed string pointers (catalog
 * data) and fixed buffers; nothing is allocated.
 */
#ifndef ECOM_EVENTS_H
#define ECOM_EVENTS_H

#include "js.h"

#include <stdint.h>

#define EVENTS_MAX_ITEMS 8

typedef enum {
    EVENT_PRODUCT_VIEW = 0,
    EVENT_ADD_TO_CART,
    EVENT_SEARCH,
} event_user_type_t;

typedef struct {
    char event_id[37];
    char user_id[8];
    event_user_type_t type;
    int64_t ts_ms;
    const char *product_id; /* product interactions only */
    const char *product_name;
    const char *category;
    int64_t price_cents;
    const char *search_query; /* search only */
    int64_t session_no;       /* "session_<n>" */
    const char *ip_address;
    const char *user_agent;
} event_user_t;

typedef struct {
    const char *product_id;
    const char *product_name;
    int64_t price_cents;
    int quantity;
    int64_t item_total_cents;
} event_item_t;

typedef struct {
    char transaction_id[37];
    char user_id[8];
    int64_t ts_ms;
    const char *payment_method;
    event_item_t items[EVENTS_MAX_ITEMS];
    int item_count;
    int64_t total_cents;
    int64_t tax_cents;
    int64_t shipping_cents;
    char street[48];
    const char *city;
    const char *country;
    char postal_code[8];
} event_txn_t;

typedef struct {
    char event_id[37];
    const char *product_id;
    const char *product_name;
    int stock_change;
    int current_stock;
    const char *warehouse_location;
    int64_t ts_ms;
} event_inventory_t;

extern const char *const event_user_type_names[3];

void event_write_user(js_writer_t *w, const event_user_t *e, const char *skip);
void event_write_txn(js_writer_t *w, const event_txn_t *e, const char *skip);
void event_write_inventory(js_writer_t *w, const event_inventory_t *e,
                           const char *skip);

/* Fills the money fields from the items: item_total = price x quantity,
 * tax 8% rounded to the cent, shipping 5.99 below 50.00 else free,
 * total = sum(item_total) + tax + shipping. */
void event_txn_compute_totals(event_txn_t *e);

/* The required fields of each topic's schema (NULL-terminated). */
extern const char *const event_user_required[];
extern const char *const event_txn_required[];
extern const char *const event_inventory_required[];

#endif
