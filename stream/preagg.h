/*
 * preagg.h - the user events of a batch grouped the way windows.c counts
 * them, computed here from the batch's COPY text instead of in PostgreSQL.
 *
 * With analytics on, the user events of a batch whose ids are all new are
 * COPYed straight into user_events (as without analytics) and these groups
 * go to the session's small temporary tables new_user_event_groups and
 * new_user_sessions (analytics.h), which windows_apply() reads beside
 * new_user_events. A user event is about 95% of the traffic and its row
 * about 400 bytes; a batch of 20,000 has a few thousand groups, so
 * PostgreSQL neither copies every row a second time into new_user_events
 * nor scans them twice there. Any other batch (a duplicate id, a rejected
 * row, this module's -1) takes the path through new_user_events.
 *
 *   groups    one row per (window_start, late, event_type, product_id,
 *             product_name, category): events, last_time (the largest
 *             event time), price (the largest, NULL when none)
 *   sessions  one row per (window_start, user_id, session_id) of the
 *             on-time events (late false)
 * window_start is the event time rounded down to a multiple of window_ms
 * since the epoch, as date_bin(window, event_time, 'epoch') does. Text
 * fields are kept as they are in the COPY text (escaped once, NULL as \N),
 * so equal values group together and are written back unchanged. Columns:
 * PREAGG_COLS_GROUPS and PREAGG_COLS_SESSIONS.
 *
 * Pure: no I/O, no clock, no PostgreSQL. The input is the COPY text of
 * BATCH_COLS_USER_EVENTS (stream/batch.h). Not thread-safe per preagg_t.
 */
#ifndef ECOM_PREAGG_H
#define ECOM_PREAGG_H

#include "buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PREAGG_COLS_GROUPS                                                     \
    "window_start, late, event_type, product_id, product_name, category, "    \
    "events, last_time, price"
#define PREAGG_COLS_SESSIONS "window_start, user_id, session_id"

typedef struct {
    int64_t events;
    int64_t last_ms;
    int64_t price_cents; /* the largest; has_price 0: none */
    int has_price;
    size_t key_at, key_len; /* its key in keys */
} preagg_group_t;

typedef struct {
    /* The result, COPY text rows (valid after preagg_user_events() == 0). */
    buf_t groups, sessions;
    size_t group_rows, session_rows;
    /* Working state, kept between calls for its capacity. */
    json_t *group_index;  /* key -> index in group[] */
    json_t *session_seen; /* key -> true */
    preagg_group_t *group;
    size_t group_cap;
    buf_t keys, key;
} preagg_t;

void preagg_init(preagg_t *p);
void preagg_free(preagg_t *p);

/* Groups the user-event COPY rows text[0..len) into p->groups and
 * p->sessions (emptied first). Returns 0, or -1 when a row is not as
 * stream/rows.c writes it (field count, timestamp, price, late flag),
 * window_ms is not positive, or memory ran out: then the caller stores
 * the batch through new_user_events instead. */
int preagg_user_events(preagg_t *p, const char *text, size_t len, int64_t window_ms);

#endif
