/*
 * notify.h - delivering one notification: the log line (always, when it is
 * created), a webhook (POST of a JSON body) and a Prometheus Alertmanager
 * (POST /api/v2/alerts), each with a few tries and backoff inside a
 * deadline. The payload builders are pure.
 *
 * Webhook body:
 *   {"id":7,"event":"firing","status":"firing","rule":"consumer_lag_high",
 *    "key":"ecom-stream","severity":"warning","labels":{...},"summary":"...",
 *    "value":1200,"active_since":"2026-12-03T10:00:00.000Z"}
 * ("status" is "resolved" for a resolved event, "firing" for firing and
 * repeat). Alertmanager: one alert with labels alertname (the rule),
 * severity and the rest, annotations summary, startsAt active_since, and
 * endsAt now for a resolved one, else now + 3 x the repeat interval (so
 * Alertmanager keeps it until the next repeat at the latest).
 */
#ifndef ECOM_NOTIFY_H
#define ECOM_NOTIFY_H

#include "astore.h"
#include "buf.h"
#include "httpget.h"

void notify_webhook_json(const anote_t *n, buf_t *out);
void notify_alertmanager_json(const anote_t *n, int64_t now_ms, int64_t repeat_ms, buf_t *out);

/* POSTs body to url: up to tries attempts, 250 ms doubling between them,
 * each within timeout_ms. 0 when one got a 2xx, else -1 with the last
 * error in err. */
int notify_post(hget_t *h, const char *url, const char *body, int tries, int timeout_ms, char *err,
                size_t errsize);

#endif
