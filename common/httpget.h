/*
 * httpget.h - one bounded HTTP request with libcurl: ecom-metrics' client
 * for the daemons' /metrics, the Kafka UI REST API and the Spark master's
 * /json/ (GET), and ecom-alerts' for /health probes (GET), webhooks and
 * Alertmanager (POST of a JSON body).
 *
 * Bounded: the whole transfer (connect included) within timeout_ms, the
 * body within max_bytes (a larger one is an error, not a truncation),
 * redirects not followed, no proxy from the environment unless the caller
 * set one in curl's own variables. Not thread-safe per handle.
 */
#ifndef ECOM_HTTPGET_H
#define ECOM_HTTPGET_H

#include "buf.h"

#include <stddef.h>

typedef struct hget hget_t;

/* NULL when libcurl cannot start. Free with hget_free. */
hget_t *hget_new(size_t max_bytes);
void hget_free(hget_t *h);

/* GETs url into body (reset first) within timeout_ms. Returns the HTTP status (200 ...), or
 * -1 with a one-line reason in err ("connect to 127.0.0.1 port 9 failed:
 * Connection refused", "body over 4194304 bytes"). A status other than 2xx
 * is returned as is, with "HTTP 503" in err. */
int hget_get(hget_t *h, const char *url, long timeout_ms, buf_t *body, char *err, size_t errsize);

/* POSTs the JSON text body_json to url within timeout_ms; the answer goes
 * to body. Returns as hget_get. */
int hget_post_json(hget_t *h, const char *url, const char *body_json, long timeout_ms, buf_t *body, char *err,
                   size_t errsize);

/* s percent-encoded for a URL path segment, appended to out. */
void hget_escape(hget_t *h, const char *s, buf_t *out);

#endif
