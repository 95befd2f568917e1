/*
 * shop.c - sessions, carts, stock and event content (see shop.h).
 */
#include "shop.h"
#include "ts.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <uuid/uuid.h>

#define CATEGORIES 4

static const char *const category_names[CATEGORIES] = {
    "Electronics", "Footwear", "Clothing", "Home & Kitchen"};

static const char *const search_queries[CATEGORIES][4] = {
    {"iphone", "laptop", "wireless headphones", "android phone"},
    {"running shoes", "nike air max", "sneakers", "ultraboost"},
    {"jeans", "winter jacket", "levis 501", "puffer jacket"},
    {"pressure cooker", "cordless vacuum", "instant pot", "dyson"},
};

static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
};

static const char *const payment_methods[] = {
    "credit_card", "debit_card", "paypal", "apple_pay", "google_pay"};

static const char *const street_names[] = {
    "Main St", "Oak Ave", "Maple Rd", "Cedar Ln", "Park Blvd", "High St"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int category_of(int p)
{
    for (int c = 0; c < CATEGORIES; c++)
        if (strcmp(catalog_products[p].category, category_names[c]) == 0)
            return c;
    return 0;
}

void shop_init(shop_t *shop, uint64_t seed, double cart_prob, double checkout_prob)
{
    uint64_t id_seed = seed ^ 0x5eed;

    memset(shop, 0, sizeof(*shop));
    rng_seed(&shop->rng, seed);
    if (getrandom(&id_seed, sizeof(id_seed), 0) != sizeof(id_seed))
        id_seed ^= (uint64_t)ts_now_ms();
    rng_seed(&shop->id_rng, id_seed);
    shop->cart_prob = cart_prob;
    shop->checkout_prob = checkout_prob;
    for (int p = 0; p < CATALOG_PRODUCTS; p++)
        for (int w = 0; w < CATALOG_WAREHOUSES; w++)
            shop->stock[p][w] = shop->reported[p][w] = catalog_initial_stock(p, w);
    for (int u = 1; u <= CATALOG_USERS; u++) {
        snprintf(shop->ip_address[u], sizeof(shop->ip_address[u]), "10.%d.%d.%d",
                 (u / 256) % 256, u % 256, 1 + u % 250);
        snprintf(shop->user_id[u], sizeof(shop->user_id[u]), "U%04d", u);
    }
}

/* A random version 4 uuid in lower-case text. */
static void make_uuid(shop_t *shop, char out[37])
{
    uuid_t id;
    uint64_t hi = rng_next(&shop->id_rng), lo = rng_next(&shop->id_rng);

    memcpy(id, &hi, 8);
    memcpy(id + 8, &lo, 8);
    id[6] = (unsigned char)((id[6] & 0x0f) | 0x40);
    id[8] = (unsigned char)((id[8] & 0x3f) | 0x80);
    uuid_unparse_lower(id, out);
}

static const char *pick_required(shop_t *shop, const char *const *fields)
{
    int n = 0;
    while (fields[n] != NULL)
        n++;
    return fields[rng_below(&shop->rng, (uint32_t)n)];
}

static int random_product_in(shop_t *shop, int category)
{
    int candidates[CATALOG_PRODUCTS], n = 0;
    for (int p = 0; p < CATALOG_PRODUCTS; p++)
        if (category_of(p) == category)
            candidates[n++] = p;
    return n ? candidates[rng_below(&shop->rng, (uint32_t)n)]
             : (int)rng_below(&shop->rng, CATALOG_PRODUCTS);
}

static void cart_add(shop_line_t *cart, int *len, int product, int qty)
{
    for (int i = 0; i < *len; i++) {
        if (cart[i].product == product) {
            cart[i].qty += qty;
            return;
        }
    }
    if (*len < SHOP_CART_MAX)
        cart[(*len)++] = (shop_line_t){product, qty};
}

static void session_end(shop_t *shop, shop_session_t *s)
{
    if (s->cart_len > 0 && rng_chance(&shop->rng, shop->checkout_prob)) {
        shop_checkout_t *c;
        if (shop->checkout_len == SHOP_CHECKOUT_MAX) { /* oldest abandons */
            shop->checkout_head = (shop->checkout_head + 1) % SHOP_CHECKOUT_MAX;
            shop->checkout_len--;
        }
        c = &shop->checkout[(shop->checkout_head + shop->checkout_len) % SHOP_CHECKOUT_MAX];
        c->user = s->user;
        c->cart_len = s->cart_len;
        memcpy(c->cart, s->cart, sizeof(s->cart));
        shop->checkout_len++;
    }
    s->user = 0;
}

static void session_start(shop_t *shop, shop_session_t *s)
{
    memset(s, 0, sizeof(*s));
    s->user = rng_range(&shop->rng, 1, CATALOG_USERS);
    s->session_no = ++shop->session_counter;
    s->interest = -1;
    s->last_viewed = -1;
    s->events_left = rng_range(&shop->rng, 3, 15);
}

static int gen_user_event(shop_t *shop, world_kind_t kind,
                          const world_faults_t *faults, int64_t ts_ms,
                          js_writer_t *js, char key[8], unsigned *tags)
{
    rng_t *rng = &shop->rng;
    shop_session_t *s = &shop->sessions[rng_below(rng, SHOP_SESSIONS)];
    shop_session_t before;
    event_user_t e;
    int p = -1;

    if (s->user == 0)
        session_start(shop, s);
    before = *s;
    memset(&e, 0, sizeof(e));
    if (s->last_viewed < 0)
        e.type = rng_chance(rng, 0.3) ? EVENT_SEARCH : EVENT_PRODUCT_VIEW;
    else if (rng_chance(rng, shop->cart_prob))
        e.type = EVENT_ADD_TO_CART;
    else
        e.type = rng_chance(rng, 0.2) ? EVENT_SEARCH : EVENT_PRODUCT_VIEW;

    if (e.type == EVENT_SEARCH) {
        s->interest = (int)rng_below(rng, CATEGORIES);
        e.search_query = search_queries[s->interest][rng_below(rng, 4)];
    } else if (e.type == EVENT_PRODUCT_VIEW) {
        p = s->interest >= 0 && rng_chance(rng, 0.7)
                ? random_product_in(shop, s->interest)
                : (int)rng_below(rng, CATALOG_PRODUCTS);
        s->last_viewed = p;
    } else {
        p = s->last_viewed;
        cart_add(s->cart, &s->cart_len, p, rng_chance(rng, 0.15) ? 2 : 1);
    }
    if (p >= 0) {
        e.product_id = catalog_products[p].product_id;
        e.product_name = catalog_products[p].name;
        e.category = catalog_products[p].category;
        e.price_cents = catalog_products[p].price_cents;
        if (rng_chance(rng, faults->price_spike)) {
            e.price_cents *= rng_range(rng, 5, 20);
            *tags |= WORLD_TAG_PRICE_SPIKE;
        }
    }
    make_uuid(shop, e.event_id);
    memcpy(e.user_id, shop->user_id[s->user], sizeof(e.user_id));
    e.ts_ms = ts_ms;
    e.session_no = s->session_no;
    e.ip_address = shop->ip_address[s->user];
    e.user_agent = user_agents[s->user % COUNT(user_agents)];
    event_write_user(js, &e, kind == WORLD_KIND_MISSING_FIELD
                                 ? pick_required(shop, event_user_required) : NULL);
    memcpy(key, e.user_id, 8);
    if (kind != WORLD_KIND_VALID) {
        *s = before; /* a rejected event changes nothing */
        return 1;
    }
    if (--s->events_left <= 0)
        session_end(shop, s);
    return 1;
}

/* Chooses what the next transaction buys and for whom. */
static int choose_purchase(shop_t *shop, const world_faults_t *faults,
                           shop_line_t *lines, int *n, unsigned *tags)
{
    rng_t *rng = &shop->rng;

    *n = 0;
    if (shop->fraud_left == 0 && rng_chance(rng, faults->fraud)) {
        if (rng_chance(rng, 0.5)) {
            shop->fraud_user = rng_range(rng, 1, CATALOG_USERS);
            shop->fraud_left = rng_range(rng, 5, 9);
        } else {
            *tags |= WORLD_TAG_LARGE_ORDER;
            lines[(*n)++] = (shop_line_t){(int)rng_below(rng, 4), rng_range(rng, 20, 50)};
            return rng_range(rng, 1, CATALOG_USERS);
        }
    }
    if (shop->fraud_left > 0) {
        shop->fraud_left--;
        *tags |= WORLD_TAG_FRAUD_BURST;
        lines[(*n)++] = (shop_line_t){(int)rng_below(rng, 4), rng_range(rng, 1, 2)};
        return shop->fraud_user;
    }
    if (shop->checkout_len > 0) {
        shop_checkout_t *c = &shop->checkout[shop->checkout_head];
        shop->checkout_head = (shop->checkout_head + 1) % SHOP_CHECKOUT_MAX;
        shop->checkout_len--;
        memcpy(lines, c->cart, sizeof(c->cart));
        *n = c->cart_len;
        return c->user;
    }
    for (int i = 0, start = (int)rng_below(rng, SHOP_SESSIONS); i < SHOP_SESSIONS; i++) {
        shop_session_t *s = &shop->sessions[(start + i) % SHOP_SESSIONS];
        if (s->user != 0 && s->cart_len > 0) { /* checks out mid-session */
            memcpy(lines, s->cart, sizeof(s->cart));
            *n = s->cart_len;
            s->cart_len = 0;
            return s->user;
        }
    }
    /* Nobody has a cart yet: a "buy now" of one product. */
    lines[(*n)++] = (shop_line_t){(int)rng_below(rng, CATALOG_PRODUCTS), 1};
    return rng_range(rng, 1, CATALOG_USERS);
}

/* The warehouse holding the most units of product p. */
static int fullest_warehouse(const shop_t *shop, int p)
{
    int best = 0;
    for (int w = 1; w < CATALOG_WAREHOUSES; w++)
        if (shop->stock[p][w] > shop->stock[p][best])
            best = w;
    return best;
}

static int gen_transaction(shop_t *shop, world_kind_t kind,
                           const world_faults_t *faults, int64_t ts_ms,
                           js_writer_t *js, char key[8], unsigned *tags)
{
    rng_t *rng = &shop->rng;
    shop_line_t lines[SHOP_CART_MAX];
    event_txn_t e;
    catalog_user_t user;
    int n = 0;
    int uid = choose_purchase(shop, faults, lines, &n, tags);

    memset(&e, 0, sizeof(e));
    for (int i = 0; i < n; i++) {
        int p = lines[i].product;
        int w = fullest_warehouse(shop, p);
        int qty = lines[i].qty < shop->stock[p][w] ? lines[i].qty : shop->stock[p][w];
        event_item_t *it = &e.items[e.item_count];

        if (qty <= 0)
            continue; /* out of stock everywhere: cannot be bought */
        if (kind == WORLD_KIND_VALID)
            shop->stock[p][w] -= qty;
        it->product_id = catalog_products[p].product_id;
        it->product_name = catalog_products[p].name;
        it->price_cents = catalog_products[p].price_cents;
        it->quantity = qty;
        e.item_count++;
    }
    if (e.item_count == 0)
        return 0;
    if (rng_chance(rng, faults->price_spike)) {
        e.items[0].price_cents *= rng_range(rng, 5, 20);
        *tags |= WORLD_TAG_PRICE_SPIKE;
    }
    event_txn_compute_totals(&e);
    catalog_user(uid, &user);
    make_uuid(shop, e.transaction_id);
    memcpy(e.user_id, user.user_id, sizeof(e.user_id));
    e.ts_ms = ts_ms;
    e.payment_method = payment_methods[rng_below(rng, COUNT(payment_methods))];
    snprintf(e.street, sizeof(e.street), "%d %s", 1 + uid * 7 % 999,
             street_names[uid % COUNT(street_names)]);
    e.city = user.city;
    e.country = user.country;
    snprintf(e.postal_code, sizeof(e.postal_code), "%05d", uid * 97 % 100000);
    event_write_txn(js, &e, kind == WORLD_KIND_MISSING_FIELD
                                ? pick_required(shop, event_txn_required) : NULL);
    memcpy(key, e.user_id, 8);
    return 1;
}

static int gen_inventory(shop_t *shop, world_kind_t kind, int64_t ts_ms,
                         js_writer_t *js, char key[8])
{
    int pair = shop->inventory_cursor++ % (CATALOG_PRODUCTS * CATALOG_WAREHOUSES);
    int p = pair % CATALOG_PRODUCTS;
    int w = pair / CATALOG_PRODUCTS;
    int units = shop->stock[p][w];
    event_inventory_t e;

    memset(&e, 0, sizeof(e));
    if (units < SHOP_RESTOCK_BELOW)
        units += rng_range(&shop->rng, 100, 200);
    make_uuid(shop, e.event_id);
    e.product_id = catalog_products[p].product_id;
    e.product_name = catalog_products[p].name;
    e.stock_change = units - shop->reported[p][w];
    e.current_stock = units;
    e.warehouse_location = catalog_warehouses[w].code;
    e.ts_ms = ts_ms;
    event_write_inventory(js, &e, kind == WORLD_KIND_MISSING_FIELD
                                      ? pick_required(shop, event_inventory_required)
                                      : NULL);
    memcpy(key, e.product_id, 5);
    if (kind == WORLD_KIND_VALID)
        shop->stock[p][w] = shop->reported[p][w] = units;
    return 1;
}

int shop_generate(shop_t *shop, world_stream_t s, world_kind_t kind,
                  const world_faults_t *faults, int64_t ts_ms, js_writer_t *js,
                  char key[8], unsigned *tags)
{
    switch (s) {
    case WORLD_USER_EVENTS:
        return gen_user_event(shop, kind, faults, ts_ms, js, key, tags);
    case WORLD_TRANSACTIONS:
        return gen_transaction(shop, kind, faults, ts_ms, js, key, tags);
    case WORLD_INVENTORY:
        return gen_inventory(shop, kind, ts_ms, js, key);
    default:
        return -1;
    }
}
