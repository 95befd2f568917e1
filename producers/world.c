/*
 * world.c - the simulated shop and its event schedule (see world.h).
 *
 * Owns: user sessions (a fixed pool of concurrent sessions), carts, the
 * checkout queue, stock per product and warehouse (and what inventory
 * updates last reported), the fraud-burst state, and one message queue per
 * stream. Event content comes from shop.c; serialization from events.c.
 */
#include "world.h"
#include "shop.h"
#include "ts.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const char *const world_topic_names[WORLD_STREAMS] = {
    "user-events", "transactions", "inventory-updates"};
const char *const world_kind_names[WORLD_KINDS] = {
    "valid", "malformed", "missing_field", "duplicate"};

typedef struct {
    world_msg_t *items;
    size_t head;
    size_t len;
    size_t cap;
} msgq_t;

struct world {
    pthread_mutex_t lock;
    world_conf_t conf;
    shop_t shop;
    int64_t interval_us[WORLD_STREAMS];
    int64_t next_due_us[WORLD_STREAMS];
    int64_t generated;
    msgq_t queue[WORLD_STREAMS];
    js_writer_t js;
};

static int msgq_push(msgq_t *q, const world_msg_t *m)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        world_msg_t *items = malloc(cap * sizeof(*items));
        if (items == NULL)
            return -1;
        for (size_t i = 0; i < q->len; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->head = 0;
        q->cap = cap;
    }
    q->items[(q->head + q->len) % q->cap] = *m;
    q->len++;
    return 0;
}

static int msgq_pop(msgq_t *q, world_msg_t *m)
{
    if (q->len == 0)
        return 0;
    *m = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return 1;
}

static void msgq_free(msgq_t *q)
{
    world_msg_t m;
    while (msgq_pop(q, &m))
        world_msg_free(&m);
    free(q->items);
}

world_t *world_new(const world_conf_t *conf)
{
    world_t *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    pthread_mutex_init(&w->lock, NULL);
    w->conf = *conf;
    if (w->conf.multiplier <= 0)
        w->conf.multiplier = 1;
    shop_init(&w->shop, conf->seed, conf->cart_prob, conf->checkout_prob);
    for (int s = 0; s < WORLD_STREAMS; s++) {
        w->interval_us[s] = conf->rate[s] > 0 ? (int64_t)(1e6 / conf->rate[s]) : -1;
        w->next_due_us[s] = 0;
    }
    buf_init(&w->js);
    return w;
}

void world_destroy(world_t *w)
{
    if (w == NULL)
        return;
    for (int s = 0; s < WORLD_STREAMS; s++)
        msgq_free(&w->queue[s]);
    buf_free(&w->js);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void world_msg_free(world_msg_t *msg)
{
    if (msg->owned)
        free(msg->payload);
    msg->payload = NULL;
}

int world_stock(world_t *w, int p, int wh)
{
    int units;
    pthread_mutex_lock(&w->lock);
    units = w->shop.stock[p][wh];
    pthread_mutex_unlock(&w->lock);
    return units;
}

static int budget_left(const world_t *w)
{
    return w->conf.max_events <= 0 || w->generated < w->conf.max_events;
}

/* The enabled stream with the earliest due event, or -1. */
static int earliest_stream(const world_t *w)
{
    int best = -1;
    for (int s = 0; s < WORLD_STREAMS; s++)
        if (w->interval_us[s] > 0 &&
            (best < 0 || w->next_due_us[s] < w->next_due_us[best]))
            best = s;
    return best;
}

static int64_t event_time_ms(const world_t *w, int64_t due_us)
{
    if (w->conf.max_rate)
        return ts_now_ms();
    return w->conf.start_wall_ms + (int64_t)((double)due_us / 1000.0 / w->conf.multiplier);
}

/* Pushes an owned copy of m (its payload included) onto stream s's queue. */
static int enqueue_copy(world_t *w, world_stream_t s, const world_msg_t *m)
{
    world_msg_t copy = *m;

    copy.payload = malloc(m->len + 1);
    if (copy.payload == NULL)
        return -1;
    memcpy(copy.payload, m->payload, m->len + 1);
    copy.owned = 1;
    if (msgq_push(&w->queue[s], &copy) != 0) {
        world_msg_free(&copy);
        return -1;
    }
    return 0;
}

/* Generates the next event of stream s into w->js and describes it in m,
 * whose payload is borrowed from w->js until the next generation.
 * Returns 1, 0 when the tick produced nothing, -1 on error. */
static int generate_into(world_t *w, world_stream_t s, world_msg_t *m)
{
    const world_faults_t *f = &w->conf.faults;
    rng_t *rng = &w->shop.rng;
    double u = rng_unit(rng);
    int64_t ts_ms;
    int made;

    *m = (world_msg_t){.stream = s, .kind = WORLD_KIND_VALID};
    m->due_us = w->next_due_us[s];
    w->next_due_us[s] += w->interval_us[s];
    if (u < f->malformed)
        m->kind = WORLD_KIND_MALFORMED;
    else if (u < f->malformed + f->missing_field)
        m->kind = WORLD_KIND_MISSING_FIELD;
    ts_ms = event_time_ms(w, m->due_us);
    if (rng_chance(rng, f->late)) {
        ts_ms -= rng_range(rng, 2, 10) * 60000;
        m->tags |= WORLD_TAG_LATE;
    }
    buf_reset(&w->js);
    made = shop_generate(&w->shop, s, m->kind, f, ts_ms, &w->js, m->key, &m->tags);
    if (made <= 0 || w->js.oom)
        return made < 0 || w->js.oom ? -1 : 0;
    if (m->kind == WORLD_KIND_MALFORMED && w->js.len > 2)
        w->js.len = (size_t)rng_range(rng, 1, (int)w->js.len - 2);
    w->js.data[w->js.len] = '\0';
    m->payload = w->js.data;
    m->len = w->js.len;
    w->generated++;
    return 1;
}

/* Decides, after each generated message, whether it is sent twice; if so
 * queues the resend (an owned copy). Returns -1 on allocation failure. */
static int maybe_resend(world_t *w, const world_msg_t *m)
{
    world_msg_t dup;

    if (m->kind != WORLD_KIND_VALID || !budget_left(w) ||
        !rng_chance(&w->shop.rng, w->conf.faults.duplicate))
        return 0;
    dup = *m;
    dup.kind = WORLD_KIND_DUPLICATE;
    w->generated++;
    return enqueue_copy(w, m->stream, &dup);
}

/* Generates the next event in schedule order into its stream's queue (plus
 * its resend, if one is injected). Returns -1 on allocation failure. */
static int generate_one(world_t *w, world_stream_t s)
{
    world_msg_t m;
    int made = generate_into(w, s, &m);

    if (made <= 0)
        return made;
    if (enqueue_copy(w, s, &m) != 0)
        return -1;
    return maybe_resend(w, &m);
}

int world_next(world_t *w, world_stream_t s, world_msg_t *msg)
{
    int got = 0;

    pthread_mutex_lock(&w->lock);
    while (!(got = msgq_pop(&w->queue[s], msg))) {
        int next = earliest_stream(w);
        if (w->interval_us[s] <= 0 || next < 0 || !budget_left(w))
            break;
        if (generate_one(w, (world_stream_t)next) != 0)
            break;
    }
    pthread_mutex_unlock(&w->lock);
    return got;
}

/* The stream whose queued head is due first, or -1 when all are empty. */
static int earliest_queued(const world_t *w)
{
    int best = -1;
    for (int s = 0; s < WORLD_STREAMS; s++) {
        const msgq_t *q = &w->queue[s];
        if (q->len > 0 &&
            (best < 0 || q->items[q->head].due_us < w->queue[best].items[w->queue[best].head].due_us))
            best = s;
    }
    return best;
}

int world_next_any(world_t *w, world_msg_t *msg)
{
    int s, got = 0;

    pthread_mutex_lock(&w->lock);
    if ((s = earliest_queued(w)) >= 0) {
        got = msgq_pop(&w->queue[s], msg);
    } else {
        /* Nothing queued: generate straight into the caller's hands, no copy. */
        for (;;) {
            int next = earliest_stream(w);
            int made;
            if (next < 0 || !budget_left(w))
                break;
            made = generate_into(w, (world_stream_t)next, msg);
            if (made < 0 || (made > 0 && maybe_resend(w, msg) != 0))
                break;
            if (made > 0) {
                got = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&w->lock);
    return got;
}
