/*
 * test_js.c - unit tests for common/js.c: the writer (exact output for
 * nested documents, string escaping, money and integer formatting, buffer
 * growth and reuse), parse-back of everything written with jansson, the
 * typed getters and js_number_to_cents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "js.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Parses w's output with jansson (any top-level value); fails the test if it
 * is not valid JSON. The caller json_decref()s the result. */
static json_t *parse_back(const js_writer_t *w)
{
    json_error_t jerr;
    json_t *root = json_loads(w->data, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL)
        fail_msg("jansson rejects \"%s\": %s at column %d", w->data, jerr.text,
                 jerr.column);
    return root;
}

/* ---- writer: whole documents ---- */

static void doc_empty_object(js_writer_t *w)
{
    js_begin_object(w);
    js_end_object(w);
}

static void doc_empty_array(js_writer_t *w)
{
    js_begin_array(w);
    js_end_array(w);
}

static void doc_flat(js_writer_t *w)
{
    js_begin_object(w);
    js_kv_string(w, "event_id", "e-1");
    js_kv_int(w, "quantity", 3);
    js_kv_money(w, "price", 99999);
    js_key(w, "coupon");
    js_null(w);
    js_end_object(w);
}

static void doc_nested(js_writer_t *w)
{
    js_begin_object(w);
    js_kv_int(w, "a", 1);
    js_key(w, "b");
    js_begin_array(w);
    js_int(w, 1);
    js_string(w, "two");
    js_begin_object(w);
    js_key(w, "c");
    js_null(w);
    js_end_object(w);
    js_begin_array(w);
    js_end_array(w);
    js_money(w, -5);
    js_end_array(w);
    js_key(w, "d");
    js_begin_object(w);
    js_kv_string(w, "e", "f");
    js_key(w, "g");
    js_begin_array(w);
    js_begin_array(w);
    js_int(w, -1);
    js_end_array(w);
    js_end_array(w);
    js_end_object(w);
    js_key(w, "h");
    js_begin_object(w);
    js_end_object(w);
    js_kv_money(w, "i", 0);
    js_end_object(w);
}

static void doc_array_of_objects(js_writer_t *w)
{
    js_begin_array(w);
    for (int i = 0; i < 3; i++) {
        js_begin_object(w);
        js_kv_int(w, "n", i);
        js_end_object(w);
    }
    js_end_array(w);
}

static void doc_escaped_keys(js_writer_t *w)
{
    js_begin_object(w);
    js_kv_string(w, "quo\"te", "v");
    js_kv_string(w, "back\\slash", "v");
    js_kv_string(w, "new\nline", "v");
    js_end_object(w);
}

static void doc_raw(js_writer_t *w)
{
    js_begin_object(w);
    js_kv_int(w, "a", 1);
    buf_append(w, ",\"b\":", 5);
    js_int(w, 2);
    js_end_object(w);
}

static const struct {
    const char *name;
    void (*build)(js_writer_t *w);
    const char *want;
} docs[] = {
    {"empty object", doc_empty_object, "{}"},
    {"empty array", doc_empty_array, "[]"},
    {"flat", doc_flat,
     "{\"event_id\":\"e-1\",\"quantity\":3,\"price\":999.99,\"coupon\":null}"},
    {"nested", doc_nested,
     "{\"a\":1,\"b\":[1,\"two\",{\"c\":null},[],-0.05],"
     "\"d\":{\"e\":\"f\",\"g\":[[-1]]},\"h\":{},\"i\":0.00}"},
    {"array of objects", doc_array_of_objects, "[{\"n\":0},{\"n\":1},{\"n\":2}]"},
    {"escaped keys", doc_escaped_keys,
     "{\"quo\\\"te\":\"v\",\"back\\\\slash\":\"v\",\"new\\nline\":\"v\"}"},
    {"raw", doc_raw, "{\"a\":1,\"b\":2}"},
};

static void test_writer_documents(void **state)
{
    js_writer_t w;
    (void)state;

    buf_init(&w);
    for (size_t i = 0; i < N_ELEMS(docs); i++) {
        json_t *root;

        buf_reset(&w);
        docs[i].build(&w);
        if (w.oom || strcmp(w.data, docs[i].want) != 0 || w.len != strlen(docs[i].want))
            fail_msg("document \"%s\": got '%s', want '%s'", docs[i].name, w.data,
                     docs[i].want);
        root = parse_back(&w);
        json_decref(root);
    }
    buf_free(&w);
}

/* The nested document reads back with the right values. */
static void test_writer_parse_back_values(void **state)
{
    js_writer_t w;
    json_t *root, *b, *d;
    int64_t i = 0;
    const char *s = NULL;
    (void)state;

    buf_init(&w);
    doc_nested(&w);
    root = parse_back(&w);
    assert_int_equal(js_get_integer(root, "a", &i), 0);
    assert_int_equal(i, 1);
    b = json_object_get(root, "b");
    assert_true(json_is_array(b));
    assert_int_equal(json_array_size(b), 5);
    assert_string_equal(json_string_value(json_array_get(b, 1)), "two");
    assert_true(json_is_null(json_object_get(json_array_get(b, 2), "c")));
    assert_int_equal(js_number_to_cents(json_array_get(b, 4), &i), 0);
    assert_int_equal(i, -5);
    d = json_object_get(root, "d");
    assert_int_equal(js_get_string(d, "e", &s), 0);
    assert_string_equal(s, "f");
    assert_int_equal(json_integer_value(json_array_get(
                         json_array_get(json_object_get(d, "g"), 0), 0)),
                     -1);
    assert_int_equal(json_object_size(json_object_get(root, "h")), 0);
    json_decref(root);
    buf_free(&w);
}

/* ---- writer: strings ---- */

static const struct {
    const char *in;
    const char *want; /* the JSON literal */
} strings[] = {
    {"", "\"\""},
    {"plain", "\"plain\""},
    {"say \"hi\"", "\"say \\\"hi\\\"\""},
    {"C:\\path\\", "\"C:\\\\path\\\\\""},
    {"a\nb", "\"a\\nb\""},
    {"a\rb", "\"a\\rb\""},
    {"a\tb", "\"a\\tb\""},
    {"\x01", "\"\\u0001\""},
    {"x\x01y", "\"x\\u0001y\""},
    {"\b\f", "\"\\u0008\\u000c\""},
    {"\x1f", "\"\\u001f\""},
    {"\x10\x1a", "\"\\u0010\\u001a\""},
    {" ", "\" \""},
    {"\x7f", "\"\x7f\""},          /* DEL needs no escape */
    {"a/b", "\"a/b\""},            /* nor does '/' */
    {"caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\""}, /* UTF-8 verbatim */
    {"\"\\\n\x01\"", "\"\\\"\\\\\\n\\u0001\\\"\""},
};

/* js_string_trusted writes what js_string writes for text without specials. */
static void test_writer_trusted(void **state)
{
    static const char *const texts[] = {"", "P001", "iPhone 15 Pro", "Home & Kitchen",
                                        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101",
                                        "caf\xc3\xa9 \xe2\x82\xac"};
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        js_writer_t a, b;
        buf_init(&a);
        buf_init(&b);
        js_begin_array(&a);
        js_begin_array(&b);
        js_string(&a, texts[i]);
        js_string(&a, "x");
        js_string_trusted(&b, texts[i]);
        js_string_trusted(&b, "x");
        js_end_array(&a);
        js_end_array(&b);
        assert_string_equal(a.data, b.data);
        buf_free(&a);
        buf_free(&b);
    }
}

static void test_writer_escaping(void **state)
{
    js_writer_t w;
    (void)state;

    buf_init(&w);
    for (size_t i = 0; i < N_ELEMS(strings); i++) {
        json_t *root;
        const char *back = NULL;

        /* as a bare value */
        buf_reset(&w);
        js_string(&w, strings[i].in);
        if (strcmp(w.data, strings[i].want) != 0)
            fail_msg("string %zu: got '%s', want '%s'", i, w.data, strings[i].want);
        root = parse_back(&w);
        if (!json_is_string(root) || strcmp(json_string_value(root), strings[i].in) != 0)
            fail_msg("string %zu does not read back", i);
        json_decref(root);

        /* as a key and a value */
        buf_reset(&w);
        js_begin_object(&w);
        js_kv_string(&w, strings[i].in, strings[i].in);
        js_end_object(&w);
        root = parse_back(&w);
        if (js_get_string(root, strings[i].in, &back) != 0 ||
            strcmp(back, strings[i].in) != 0)
            fail_msg("key/value %zu does not read back from '%s'", i, w.data);
        json_decref(root);
    }
    buf_free(&w);
}

/* ---- writer: numbers ---- */

static const struct {
    int64_t cents;
    const char *want;
} money[] = {
    {0, "0.00"},
    {5, "0.05"},
    {-5, "-0.05"},
    {10, "0.10"},
    {99, "0.99"},
    {100, "1.00"},
    {-100, "-1.00"},
    {-99, "-0.99"},
    {99999, "999.99"},
    {-123456, "-1234.56"},
    {9007199254740992LL, "90071992547409.92"},
    {INT64_MAX, "92233720368547758.07"},
    {INT64_MIN + 1, "-92233720368547758.07"},
    {INT64_MIN, "-92233720368547758.08"},
};

static void test_writer_money(void **state)
{
    js_writer_t w;
    (void)state;

    buf_init(&w);
    for (size_t i = 0; i < N_ELEMS(money); i++) {
        json_t *root;
        int64_t back = 0;

        buf_reset(&w);
        js_money(&w, money[i].cents);
        if (strcmp(w.data, money[i].want) != 0)
            fail_msg("money %" PRId64 ": got '%s', want '%s'", money[i].cents, w.data,
                     money[i].want);
        root = parse_back(&w);
        assert_true(json_is_real(root));
        /* exact to the cent wherever a double can carry it */
        if (money[i].cents > -(1LL << 50) && money[i].cents < (1LL << 50)) {
            if (js_number_to_cents(root, &back) != 0 || back != money[i].cents)
                fail_msg("money %" PRId64 " reads back as %" PRId64, money[i].cents,
                         back);
        }
        json_decref(root);
    }
    buf_free(&w);
}

static const struct {
    int64_t v;
    const char *want;
} ints[] = {
    {0, "0"},
    {-1, "-1"},
    {1234567890123LL, "1234567890123"},
    {INT64_MAX, "9223372036854775807"},
    {INT64_MIN, "-9223372036854775808"},
};

static void test_writer_int(void **state)
{
    js_writer_t w;
    (void)state;

    buf_init(&w);
    for (size_t i = 0; i < N_ELEMS(ints); i++) {
        json_t *root;

        buf_reset(&w);
        js_int(&w, ints[i].v);
        if (strcmp(w.data, ints[i].want) != 0)
            fail_msg("int %zu: got '%s', want '%s'", i, w.data, ints[i].want);
        root = parse_back(&w);
        assert_true(json_is_integer(root));
        assert_true(json_integer_value(root) == ints[i].v);
        json_decref(root);
    }
    buf_free(&w);
}

/* ---- writer: buffer management ---- */

static void test_writer_growth_and_reuse(void **state)
{
    js_writer_t w;
    json_t *root;
    char *first;
    size_t cap;
    (void)state;

    buf_init(&w);
    assert_null(w.data);
    assert_int_equal(w.len, 0);
    js_begin_array(&w);
    for (int i = 0; i < 20000; i++) {
        js_begin_object(&w);
        js_kv_int(&w, "i", i);
        js_kv_string(&w, "s", "some text with \"quotes\"");
        js_end_object(&w);
    }
    js_end_array(&w);
    assert_false(w.oom);
    assert_int_equal(strlen(w.data), w.len);
    assert_true(w.cap > w.len);
    root = parse_back(&w);
    assert_int_equal(json_array_size(root), 20000);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(root, 19999), "i")),
                     19999);
    json_decref(root);

    /* reset keeps the buffer and starts a fresh document (no leading comma) */
    first = w.data;
    cap = w.cap;
    buf_reset(&w);
    assert_int_equal(w.len, 0);
    assert_string_equal(w.data, "");
    js_begin_object(&w);
    js_end_object(&w);
    assert_string_equal(w.data, "{}");
    assert_ptr_equal(w.data, first);
    assert_int_equal(w.cap, cap);

    buf_free(&w);
    assert_null(w.data);
    buf_free(&w); /* twice is harmless */
    buf_free(NULL);
    buf_reset(&w); /* reset of an empty writer */
    assert_null(w.data);
}

/* ---- getters ---- */

static const char getter_doc[] =
    "{\"s\":\"text\",\"i\":5,\"neg\":-7,\"r\":1.5,\"n\":null,\"t\":true,"
    "\"o\":{},\"a\":[],\"big\":9223372036854775807}";

enum { GET_STRING, GET_INTEGER, GET_NUMBER };

static const struct {
    int getter;
    const char *key;
    int rc;
    const char *want_s;
    int64_t want_i;
    double want_d;
} getters[] = {
    {GET_STRING, "s", 0, "text", 0, 0},
    {GET_STRING, "i", -2, NULL, 0, 0},
    {GET_STRING, "r", -2, NULL, 0, 0},
    {GET_STRING, "t", -2, NULL, 0, 0},
    {GET_STRING, "o", -2, NULL, 0, 0},
    {GET_STRING, "a", -2, NULL, 0, 0},
    {GET_STRING, "n", -1, NULL, 0, 0},
    {GET_STRING, "missing", -1, NULL, 0, 0},
    {GET_STRING, "", -1, NULL, 0, 0},
    {GET_INTEGER, "i", 0, NULL, 5, 0},
    {GET_INTEGER, "neg", 0, NULL, -7, 0},
    {GET_INTEGER, "big", 0, NULL, INT64_MAX, 0},
    {GET_INTEGER, "r", -2, NULL, 0, 0},
    {GET_INTEGER, "s", -2, NULL, 0, 0},
    {GET_INTEGER, "t", -2, NULL, 0, 0},
    {GET_INTEGER, "a", -2, NULL, 0, 0},
    {GET_INTEGER, "n", -1, NULL, 0, 0},
    {GET_INTEGER, "missing", -1, NULL, 0, 0},
    {GET_NUMBER, "i", 0, NULL, 0, 5.0},
    {GET_NUMBER, "r", 0, NULL, 0, 1.5},
    {GET_NUMBER, "neg", 0, NULL, 0, -7.0},
    {GET_NUMBER, "s", -2, NULL, 0, 0},
    {GET_NUMBER, "t", -2, NULL, 0, 0},
    {GET_NUMBER, "o", -2, NULL, 0, 0},
    {GET_NUMBER, "n", -1, NULL, 0, 0},
    {GET_NUMBER, "missing", -1, NULL, 0, 0},
};

static void test_getters(void **state)
{
    json_error_t jerr;
    json_t *obj = json_loads(getter_doc, 0, &jerr);
    (void)state;

    assert_non_null(obj);
    for (size_t i = 0; i < N_ELEMS(getters); i++) {
        const char *s = "untouched";
        int64_t n = 424242;
        double d = 4242.5;
        int rc;
        int ok;

        switch (getters[i].getter) {
        case GET_STRING:
            rc = js_get_string(obj, getters[i].key, &s);
            ok = rc == 0 ? strcmp(s, getters[i].want_s) == 0
                         : strcmp(s, "untouched") == 0;
            break;
        case GET_INTEGER:
            rc = js_get_integer(obj, getters[i].key, &n);
            ok = n == (rc == 0 ? getters[i].want_i : 424242);
            break;
        default:
            rc = js_get_number(obj, getters[i].key, &d);
            ok = d == (rc == 0 ? getters[i].want_d : 4242.5);
            break;
        }
        if (rc != getters[i].rc || !ok)
            fail_msg("getter case %zu (key \"%s\"): rc %d (want %d), value ok %d", i,
                     getters[i].key, rc, getters[i].rc, ok);
    }
    json_decref(obj);
}

/* ---- js_number_to_cents ---- */

static const struct {
    const char *json;
    int rc;
    int64_t cents;
} cents_cases[] = {
    {"0", 0, 0},
    {"5", 0, 500},
    {"-5", 0, -500},
    {"0.0", 0, 0},
    {"-0.0", 0, 0},
    {"0.1", 0, 10},
    {"0.2", 0, 20},
    {"0.3", 0, 30},
    {"0.30000000000000004", 0, 30}, /* 0.1 + 0.2 as a double */
    {"0.29999999999999998", 0, 30},
    {"999.99", 0, 99999},
    {"-999.99", 0, -99999},
    {"69.5", 0, 6950},
    {"1299", 0, 129900},
    {"1299.00", 0, 129900},
    {"19.999", 0, 2000},
    {"0.004", 0, 0},
    {"-0.004", 0, 0},
    /* exact binary halves round half away from zero */
    {"0.125", 0, 13},
    {"-0.125", 0, -13},
    {"0.375", 0, 38},
    {"-0.625", 0, -63},
    {"1.125", 0, 113},
    {"1e2", 0, 10000},
    {"1.5e1", 0, 1500},
    /* limits: |cents| <= 2^53 */
    {"90071992547409", 0, 9007199254740900LL},
    {"-90071992547409", 0, -9007199254740900LL},
    {"90071992547410", -1, 0},
    {"-90071992547410", -1, 0},
    {"90071992547409.92", 0, 9007199254740992LL},
    {"90071992547410.0", -1, 0},
    {"9223372036854775807", -1, 0},
    {"1e300", -1, 0},
    {"-1e300", -1, 0},
    {"1e308", -1, 0},
    /* not numbers */
    {"\"1.00\"", -1, 0},
    {"null", -1, 0},
    {"true", -1, 0},
    {"[]", -1, 0},
    {"{}", -1, 0},
};

static void test_number_to_cents(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(cents_cases); i++) {
        json_error_t jerr;
        json_t *v = json_loads(cents_cases[i].json, JSON_DECODE_ANY, &jerr);
        int64_t got = 777;
        int rc;

        if (v == NULL)
            fail_msg("case %zu: bad test JSON '%s'", i, cents_cases[i].json);
        rc = js_number_to_cents(v, &got);
        json_decref(v);
        if (rc != cents_cases[i].rc ||
            got != (cents_cases[i].rc == 0 ? cents_cases[i].cents : 777))
            fail_msg("cents case %zu '%s': rc %d got %" PRId64 ", want rc %d cents %" PRId64,
                     i, cents_cases[i].json, rc, got, cents_cases[i].rc,
                     cents_cases[i].cents);
    }
}

/* Sums computed in double, as a producer might, still land on the cent. */
static void test_number_to_cents_computed(void **state)
{
    static const struct {
        double value;
        int64_t cents;
    } sums[] = {
        {0.1 + 0.2, 30},
        {0.1 * 3, 30},
        {0.7 + 0.1, 80},
        {1.1 + 2.2, 330},
        {999.99 * 3, 299997},
        {19.99 * 100, 199900},
        {-(0.1 + 0.2), -30},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(sums); i++) {
        json_t *v = json_real(sums[i].value);
        int64_t got = 0;

        assert_non_null(v);
        if (js_number_to_cents(v, &got) != 0 || got != sums[i].cents)
            fail_msg("sum %zu (%.17g): got %" PRId64 ", want %" PRId64, i,
                     sums[i].value, got, sums[i].cents);
        json_decref(v);
    }
    {
        int64_t got = 1;
        assert_int_equal(js_number_to_cents(NULL, &got), -1);
        assert_int_equal(got, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_documents),
        cmocka_unit_test(test_writer_parse_back_values),
        cmocka_unit_test(test_writer_escaping),
        cmocka_unit_test(test_writer_trusted),
        cmocka_unit_test(test_writer_money),
        cmocka_unit_test(test_writer_int),
        cmocka_unit_test(test_writer_growth_and_reuse),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_number_to_cents),
        cmocka_unit_test(test_number_to_cents_computed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
