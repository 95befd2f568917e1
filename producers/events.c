/*
 * events.c - JSON serialization of user events, transactions and inventory
 * updates (see events.h). Field order follows the documented schemas.
 */
#include "events.h"
#include "ts.h"

#include <string.h>

const char *const event_user_type_names[3] = {"product_view", "add_to_cart",
                                              "search"};

const char *const event_user_required[] = {
    "event_id", "user_id", "event_type", "timestamp", "session_id", NULL};
const char *const event_txn_required[] = {
    "transaction_id", "user_id", "event_type", "timestamp", "payment_method",
    "items", "total_amount", NULL};
const char *const event_inventory_required[] = {
    "event_id", "event_type", "product_id", "stock_change", "current_stock",
    "warehouse_location", "timestamp", NULL};

/* Every string the simulator writes comes from its own tables, uuids,
 * timestamps and numbers: nothing to escape (test_world.c parses every
 * generated event with jansson). */
static void kv_text(js_writer_t *w, const char *key, const char *value)
{
    js_key(w, key);
    js_string_trusted(w, value);
}

/* Writes the key unless it is the field being left out. Returns 1 when the
 * caller should write the value. */
static int field(js_writer_t *w, const char *skip, const char *key)
{
    if (skip != NULL && strcmp(skip, key) == 0)
        return 0;
    js_key(w, key);
    return 1;
}

static void put_time(js_writer_t *w, const char *skip, int64_t ts_ms)
{
    char stamp[TS_RFC3339_LEN];
    if (field(w, skip, "timestamp"))
        js_string_trusted(w, ts_format_rfc3339(ts_ms, stamp));
}

void event_write_user(js_writer_t *w, const event_user_t *e, const char *skip)
{
    char session[32];

    js_begin_object(w);
    if (field(w, skip, "event_id"))
        js_string_trusted(w, e->event_id);
    if (field(w, skip, "user_id"))
        js_string_trusted(w, e->user_id);
    if (field(w, skip, "event_type"))
        js_string_trusted(w, event_user_type_names[e->type]);
    put_time(w, skip, e->ts_ms);
    if (e->type == EVENT_SEARCH) {
        if (field(w, skip, "search_query"))
            js_string_trusted(w, e->search_query);
    } else {
        if (field(w, skip, "product_id"))
            js_string_trusted(w, e->product_id);
        if (field(w, skip, "product_name"))
            js_string_trusted(w, e->product_name);
        if (field(w, skip, "category"))
            js_string_trusted(w, e->category);
        if (field(w, skip, "price"))
            js_money(w, e->price_cents);
    }
    memcpy(session, "session_", 8);
    js_format_int(e->session_no, session + 8, sizeof(session) - 8);
    if (field(w, skip, "session_id"))
        js_string_trusted(w, session);
    if (field(w, skip, "ip_address"))
        js_string_trusted(w, e->ip_address);
    if (field(w, skip, "user_agent"))
        js_string_trusted(w, e->user_agent);
    js_end_object(w);
}

void event_write_txn(js_writer_t *w, const event_txn_t *e, const char *skip)
{
    js_begin_object(w);
    if (field(w, skip, "transaction_id"))
        js_string_trusted(w, e->transaction_id);
    if (field(w, skip, "user_id"))
        js_string_trusted(w, e->user_id);
    if (field(w, skip, "event_type"))
        js_string_trusted(w, "purchase");
    put_time(w, skip, e->ts_ms);
    if (field(w, skip, "payment_method"))
        js_string_trusted(w, e->payment_method);
    if (field(w, skip, "items")) {
        js_begin_array(w);
        for (int i = 0; i < e->item_count; i++) {
            const event_item_t *it = &e->items[i];
            js_begin_object(w);
            kv_text(w, "product_id", it->product_id);
            kv_text(w, "product_name", it->product_name);
            js_kv_money(w, "price", it->price_cents);
            js_kv_int(w, "quantity", it->quantity);
            js_kv_money(w, "item_total", it->item_total_cents);
            js_end_object(w);
        }
        js_end_array(w);
    }
    if (field(w, skip, "total_amount"))
        js_money(w, e->total_cents);
    if (field(w, skip, "tax_amount"))
        js_money(w, e->tax_cents);
    if (field(w, skip, "shipping_cost"))
        js_money(w, e->shipping_cents);
    if (field(w, skip, "shipping_address")) {
        js_begin_object(w);
        kv_text(w, "street", e->street);
        kv_text(w, "city", e->city);
        kv_text(w, "postal_code", e->postal_code);
        kv_text(w, "country", e->country);
        js_end_object(w);
    }
    js_end_object(w);
}

void event_write_inventory(js_writer_t *w, const event_inventory_t *e,
                           const char *skip)
{
    js_begin_object(w);
    if (field(w, skip, "event_id"))
        js_string_trusted(w, e->event_id);
    if (field(w, skip, "event_type"))
        js_string_trusted(w, "inventory_update");
    if (field(w, skip, "product_id"))
        js_string_trusted(w, e->product_id);
    if (field(w, skip, "product_name"))
        js_string_trusted(w, e->product_name);
    if (field(w, skip, "stock_change"))
        js_int(w, e->stock_change);
    if (field(w, skip, "current_stock"))
        js_int(w, e->current_stock);
    if (field(w, skip, "warehouse_location"))
        js_string_trusted(w, e->warehouse_location);
    put_time(w, skip, e->ts_ms);
    js_end_object(w);
}

void event_txn_compute_totals(event_txn_t *e)
{
    int64_t subtotal = 0;

    for (int i = 0; i < e->item_count; i++) {
        event_item_t *it = &e->items[i];
        it->item_total_cents = it->price_cents * it->quantity;
        subtotal += it->item_total_cents;
    }
    e->tax_cents = (subtotal * 8 + 50) / 100;
    e->shipping_cents = subtotal >= 5000 ? 0 : 599;
    e->total_cents = subtotal + e->tax_cents + e->shipping_cents;
}
