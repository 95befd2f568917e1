/*
 * js.h - JSON helpers.
 *
 * Writing: a minimal append-only JSON writer into a growable buffer
 * (js_writer_t is a buf_t: buf_init/buf_reset/buf_free, and buf_append for
 * raw bytes), used on hot paths (the simulator serializes every event with
 * it). Commas are inserted automatically. Money is written from integer
 * cents so amounts are exact to the cent.
 *
 * Reading: thin typed getters over jansson objects, returning a status so
 * validators can say exactly which field is missing or mistyped.
 *
 * Ownership: the writer owns its buffer (buf_free). Getters return
 * borrowed pointers into the jansson object.
 */
#ifndef ECOM_JS_H
#define ECOM_JS_H

#include "buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* data is NUL-terminated after every call; oom is set when an allocation
 * failed, and further writes are dropped. */
typedef buf_t js_writer_t;

void js_begin_object(js_writer_t *w);
void js_end_object(js_writer_t *w);
void js_begin_array(js_writer_t *w);
void js_end_array(js_writer_t *w);
void js_key(js_writer_t *w, const char *key);
void js_string(js_writer_t *w, const char *s);
/* Like js_string for text that never needs escaping (the program's own
 * constants, uuids, timestamps): skips the escape scan. Debug builds
 * assert it. */
void js_string_trusted(js_writer_t *w, const char *s);
void js_int(js_writer_t *w, int64_t v);
void js_money(js_writer_t *w, int64_t cents); /* 1234 -> 12.34 */
void js_null(js_writer_t *w);
/* A double with the shortest text that reads back the same ("%.17g" at
 * most); NaN and the infinities, which JSON lacks, as null. */
void js_double(js_writer_t *w, double v);
/* A value that is already JSON text (e.g. a jansson dump), as it is. */
void js_raw(js_writer_t *w, const char *json);

/* key/value shorthands */
void js_kv_string(js_writer_t *w, const char *key, const char *s);
void js_kv_int(js_writer_t *w, const char *key, int64_t v);
void js_kv_money(js_writer_t *w, const char *key, int64_t cents);

/* Formats cents as a decimal amount ("-12.34") into buf (at least 24
 * bytes); returns the length. Exact for every int64 value. */
int js_format_cents(int64_t cents, char *buf, size_t size);
/* Formats v in decimal into buf (at least 21 bytes); returns the length. */
int js_format_int(int64_t v, char *buf, size_t size);

/* Typed getters. Return 0 when key exists with the right type, -1 when it is
 * missing (or null), -2 when it has another type. */
int js_get_string(const json_t *obj, const char *key, const char **out);
int js_get_integer(const json_t *obj, const char *key, int64_t *out);
/* Accepts JSON integers and reals. */
int js_get_number(const json_t *obj, const char *key, double *out);

/* Converts a JSON number to integer cents, rounding half away from zero.
 * Returns -1 if not a number or out of +-(2^53) cents. */
int js_number_to_cents(const json_t *v, int64_t *cents);

#endif
