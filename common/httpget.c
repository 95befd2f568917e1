/*
 * httpget.c - bounded HTTP GETs over one reused libcurl easy handle (see
 * httpget.h). The write callback refuses bytes past the size limit, which
 * makes curl abort the transfer with CURLE_WRITE_ERROR.
 */
#include "httpget.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hget {
    CURL *curl;
    size_t max_bytes;
    buf_t *body;
    int too_big;
};

hget_t *hget_new(size_t max_bytes)
{
    hget_t *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        free(h);
        return NULL;
    }
    h->max_bytes = max_bytes;
    return h;
}

void hget_free(hget_t *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    hget_t *h = arg;
    size_t n = size * nmemb;

    if (h->body->len + n > h->max_bytes) {
        h->too_big = 1;
        return 0; /* curl stops: CURLE_WRITE_ERROR */
    }
    buf_append(h->body, ptr, n);
    return h->body->oom ? 0 : n;
}

static int perform(hget_t *h, const char *url, const char *post_json, long timeout_ms, buf_t *body, char *err,
                   size_t errsize)
{
    struct curl_slist *headers = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc;

    buf_reset(body);
    h->body = body;
    h->too_big = 0;
    curl_easy_reset(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h->curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "ecom-pipeline/" ECOM_VERSION);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, cerr);
    if (post_json != NULL) {
        headers = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, post_json);
    }
    rc = curl_easy_perform(h->curl);
    curl_slist_free_all(headers);
    h->body = NULL;
    if (h->too_big) {
        snprintf(err, errsize, "body over %zu bytes", h->max_bytes);
        return -1;
    }
    if (body->oom) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (rc != CURLE_OK) {
        snprintf(err, errsize, "%s", cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        snprintf(err, errsize, "HTTP %ld", status);
    return (int)status;
}

int hget_get(hget_t *h, const char *url, long timeout_ms, buf_t *body, char *err, size_t errsize)
{
    return perform(h, url, NULL, timeout_ms, body, err, errsize);
}

int hget_post_json(hget_t *h, const char *url, const char *body_json, long timeout_ms, buf_t *body, char *err,
                   size_t errsize)
{
    return perform(h, url, body_json, timeout_ms, body, err, errsize);
}

void hget_escape(hget_t *h, const char *s, buf_t *out)
{
    char *e = curl_easy_escape(h->curl, s, 0);

    if (e == NULL) {
        out->oom = 1;
        return;
    }
    buf_puts(out, e);
    curl_free(e);
}
