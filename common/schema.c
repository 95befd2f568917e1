/*
 * schema.c - message validation for user-events, transactions and
 * inventory-updates (see schema.h).
 */
#include "schema.h"
#include "js.h"
#include "ts.h"
#include "utf8.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MIN_EVENT_MS 946684800000LL /* 2000-01-01T00:00:00Z */
#define MAX_FUTURE_MS (24LL * 3600 * 1000)
#define MAX_TEXT 512

const schema_topic_info_t schema_topics[SCHEMA_TOPICS] = {
    [SCHEMA_USER_EVENTS] = {"user-events", "user_events", NULL},
    [SCHEMA_TRANSACTIONS] = {"transactions", "transactions", "transaction_items"},
    [SCHEMA_INVENTORY] = {"inventory-updates", "inventory_updates", NULL},
};

int schema_topic_from_name(const char *name)
{
    for (int t = 0; t < SCHEMA_TOPICS; t++)
        if (strcmp(name, schema_topics[t].name) == 0)
            return t;
    return -1;
}

/* Formats the reason. It quotes message text cut at a byte count (%.40s,
 * jansson's error context, the size of reason), which can split a
 * character, and the dead-letter table stores it in a UTF-8 text column
 * that would reject the whole batch: bytes that do not form a character
 * become '?'. */
static int fail(schema_result_t *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(schema_result_t *res, const char *fmt, ...)
{
    unsigned char *p = (unsigned char *)res->reason;
    size_t left;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    for (left = strlen(res->reason); left > 0;) {
        size_t n = utf8_char_len(p, left);
        if (n == 0) {
            *p++ = '?';
            left--;
        } else {
            p += n;
            left -= n;
        }
    }
    return -1;
}

int schema_is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[36] == '\0';
}

/* A required, non-empty string of bounded length. */
static int need_string(const json_t *obj, const char *key, const char **out,
                       schema_result_t *res)
{
    const char *s = NULL;
    int rc = js_get_string(obj, key, &s);

    if (rc == -1)
        return fail(res, "missing required field \"%s\"", key);
    if (rc == -2)
        return fail(res, "field \"%s\" must be a string", key);
    if (*s == '\0')
        return fail(res, "field \"%s\" must not be empty", key);
    if (strlen(s) > MAX_TEXT)
        return fail(res, "field \"%s\" is longer than %d bytes", key, MAX_TEXT);
    *out = s;
    return 0;
}

/* An optional string: absent or null is fine, another type is not. */
static int opt_string(const json_t *obj, const char *key, schema_result_t *res)
{
    const char *s = NULL;
    int rc = js_get_string(obj, key, &s);

    if (rc == -2)
        return fail(res, "field \"%s\" must be a string", key);
    if (rc == 0 && strlen(s) > MAX_TEXT)
        return fail(res, "field \"%s\" is longer than %d bytes", key, MAX_TEXT);
    return 0;
}

static int need_uuid(const json_t *obj, const char *key, schema_result_t *res)
{
    const char *s = NULL;

    if (need_string(obj, key, &s, res) != 0)
        return -1;
    if (!schema_is_uuid(s))
        return fail(res, "field \"%s\" is not a uuid: \"%.40s\"", key, s);
    return 0;
}

static int need_time(const json_t *obj, int64_t now_ms, schema_result_t *res)
{
    const char *s = NULL;

    if (need_string(obj, "timestamp", &s, res) != 0)
        return -1;
    if (ts_parse_rfc3339(s, &res->event_ms) != 0)
        return fail(res, "field \"timestamp\" is not an RFC 3339 timestamp: \"%.40s\"", s);
    if (res->event_ms < MIN_EVENT_MS)
        return fail(res, "field \"timestamp\" is before 2000-01-01: \"%.40s\"", s);
    if (res->event_ms > now_ms + MAX_FUTURE_MS)
        return fail(res, "field \"timestamp\" is more than a day in the future: \"%.40s\"", s);
    return 0;
}

/* A required non-negative amount in [0, max] cents. */
static int need_money(const json_t *obj, const char *key, int64_t max,
                      int64_t *cents, schema_result_t *res)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return fail(res, "missing required field \"%s\"", key);
    if (!json_is_number(v))
        return fail(res, "field \"%s\" must be a number", key);
    if (js_number_to_cents(v, cents) != 0 || *cents > max)
        return fail(res, "field \"%s\" is out of range: %g", key, json_number_value(v));
    if (*cents < 0)
        return fail(res, "field \"%s\" must not be negative: %g", key, json_number_value(v));
    return 0;
}

static int need_int(const json_t *obj, const char *key, int64_t min, int64_t max,
                    int64_t *out, schema_result_t *res)
{
    int rc = js_get_integer(obj, key, out);

    if (rc == -1)
        return fail(res, "missing required field \"%s\"", key);
    if (rc == -2)
        return fail(res, "field \"%s\" must be an integer", key);
    if (*out < min || *out > max)
        return fail(res, "field \"%s\" is out of range [%lld, %lld]: %lld", key,
                    (long long)min, (long long)max, (long long)*out);
    return 0;
}

static int validate_user_event(const json_t *root, int64_t now_ms, schema_result_t *res)
{
    const char *s = NULL, *type = NULL;
    int64_t cents;

    if (need_uuid(root, "event_id", res) || need_string(root, "user_id", &s, res) ||
        need_string(root, "event_type", &type, res) || need_time(root, now_ms, res) ||
        need_string(root, "session_id", &s, res) || opt_string(root, "ip_address", res) ||
        opt_string(root, "user_agent", res))
        return -1;
    if (strcmp(type, "search") == 0)
        return need_string(root, "search_query", &s, res);
    if (strcmp(type, "product_view") != 0 && strcmp(type, "add_to_cart") != 0)
        return fail(res, "unknown event_type \"%.40s\" for user-events", type);
    return need_string(root, "product_id", &s, res) ||
                   need_string(root, "product_name", &s, res) ||
                   need_string(root, "category", &s, res) ||
                   need_money(root, "price", SCHEMA_MAX_PRICE_CENTS, &cents, res)
               ? -1 : 0;
}

static int validate_item(const json_t *item, size_t i, int64_t *total, schema_result_t *res)
{
    const char *s = NULL;
    int64_t price, qty, item_total;

    if (!json_is_object(item))
        return fail(res, "items[%zu] must be an object", i);
    if (need_string(item, "product_id", &s, res) || need_string(item, "product_name", &s, res) ||
        need_money(item, "price", SCHEMA_MAX_PRICE_CENTS, &price, res) ||
        need_int(item, "quantity", 1, SCHEMA_MAX_QUANTITY, &qty, res) ||
        need_money(item, "item_total", SCHEMA_MAX_AMOUNT_CENTS, &item_total, res)) {
        char inner[sizeof(res->reason)];
        memcpy(inner, res->reason, sizeof(inner));
        return fail(res, "items[%zu]: %.200s", i, inner);
    }
    if (item_total != price * qty)
        return fail(res, "items[%zu]: item_total %lld.%02lld is not price x quantity (%lld.%02lld)",
                    i, (long long)(item_total / 100), (long long)(item_total % 100),
                    (long long)(price * qty / 100), (long long)(price * qty % 100));
    *total += item_total;
    return 0;
}

static int validate_transaction(const json_t *root, int64_t now_ms, schema_result_t *res)
{
    const char *s = NULL, *type = NULL;
    json_t *items = json_object_get(root, "items");
    json_t *address = json_object_get(root, "shipping_address");
    int64_t sum = 0, total, tax = 0, shipping = 0;

    if (need_uuid(root, "transaction_id", res) || need_string(root, "user_id", &s, res) ||
        need_string(root, "event_type", &type, res))
        return -1;
    if (strcmp(type, "purchase") != 0)
        return fail(res, "unknown event_type \"%.40s\" for transactions", type);
    if (need_time(root, now_ms, res) || need_string(root, "payment_method", &s, res))
        return -1;
    if (items == NULL || json_is_null(items))
        return fail(res, "missing required field \"items\"");
    if (!json_is_array(items))
        return fail(res, "field \"items\" must be an array");
    if (json_array_size(items) == 0 || json_array_size(items) > SCHEMA_MAX_ITEMS)
        return fail(res, "field \"items\" must hold 1 to %d items, not %zu",
                    SCHEMA_MAX_ITEMS, json_array_size(items));
    for (size_t i = 0; i < json_array_size(items); i++)
        if (validate_item(json_array_get(items, i), i, &sum, res) != 0)
            return -1;
    if (need_money(root, "total_amount", SCHEMA_MAX_AMOUNT_CENTS, &total, res))
        return -1;
    if (json_object_get(root, "tax_amount") != NULL &&
        need_money(root, "tax_amount", SCHEMA_MAX_AMOUNT_CENTS, &tax, res))
        return -1;
    if (json_object_get(root, "shipping_cost") != NULL &&
        need_money(root, "shipping_cost", SCHEMA_MAX_AMOUNT_CENTS, &shipping, res))
        return -1;
    if (address != NULL && !json_is_null(address) && !json_is_object(address))
        return fail(res, "field \"shipping_address\" must be an object");
    res->totals_match = total == sum + tax + shipping;
    return 0;
}

static int validate_inventory(const json_t *root, int64_t now_ms, schema_result_t *res)
{
    const char *s = NULL, *type = NULL;
    int64_t change, current;

    if (need_uuid(root, "event_id", res) || need_string(root, "event_type", &type, res))
        return -1;
    if (strcmp(type, "inventory_update") != 0)
        return fail(res, "unknown event_type \"%.40s\" for inventory-updates", type);
    return need_string(root, "product_id", &s, res) ||
                   need_string(root, "product_name", &s, res) ||
                   need_int(root, "stock_change", -100000000, 100000000, &change, res) ||
                   need_int(root, "current_stock", 0, 1000000000, &current, res) ||
                   need_string(root, "warehouse_location", &s, res) ||
                   need_time(root, now_ms, res)
               ? -1 : 0;
}

int schema_validate(schema_topic_t topic, const json_t *root, int64_t now_ms,
                    schema_result_t *res)
{
    res->reason[0] = '\0';
    res->totals_match = 1;
    res->event_ms = 0;
    if (!json_is_object(root))
        return fail(res, "message is not a JSON object");
    switch (topic) {
    case SCHEMA_USER_EVENTS:
        return validate_user_event(root, now_ms, res);
    case SCHEMA_TRANSACTIONS:
        return validate_transaction(root, now_ms, res);
    case SCHEMA_INVENTORY:
        return validate_inventory(root, now_ms, res);
    default:
        return fail(res, "unknown topic");
    }
}

int schema_check(schema_topic_t topic, const void *payload, size_t len,
                 size_t max_bytes, int64_t now_ms, json_t **root,
                 schema_result_t *res)
{
    json_error_t jerr;
    json_t *parsed = NULL;

    res->reason[0] = '\0';
    if (root != NULL)
        *root = NULL;
    if (payload == NULL)
        return fail(res, "message value is null");
    if (len == 0)
        return fail(res, "message is empty");
    if (len > max_bytes)
        return fail(res, "message is %zu bytes, over the %zu byte limit", len, max_bytes);
    if (memchr(payload, '\0', len) != NULL)
        return fail(res, "message contains a NUL byte");
    parsed = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (parsed == NULL)
        return fail(res, "invalid JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    if (schema_validate(topic, parsed, now_ms, res) != 0) {
        json_decref(parsed);
        return -1;
    }
    if (root != NULL)
        *root = parsed;
    else
        json_decref(parsed);
    return 0;
}
