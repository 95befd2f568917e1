/*
 * world.h - the simulated shop the simulator drives: sessions with a
 * view -> cart -> checkout funnel, stock per product and warehouse, fault
 * injection, and the merged schedule of the three event streams.
 *
 * Determinism: every choice comes from one PRNG seeded by world_conf_t.seed
 * and events are generated strictly in scheduled-time order, whichever
 * producer thread asks first, so the same seed yields the same stream
 * (apart from uuids and wall-clock timestamps).
 *
 * Thread safety: world_next() may be called from any thread; the world is
 * guarded by one mutex. Ownership: world_next() hands the message payload to
 * the caller; world_next_any() may lend it (see there). Always release a
 * message with world_msg_free().
 */
#ifndef ECOM_WORLD_H
#define ECOM_WORLD_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    WORLD_USER_EVENTS = 0,
    WORLD_TRANSACTIONS = 1,
    WORLD_INVENTORY = 2,
    WORLD_STREAMS = 3,
} world_stream_t;

/* What a message is, for the run summary. Valid kinds are stored by the
 * stream processor; MALFORMED and MISSING_FIELD are dead-lettered;
 * DUPLICATE is a resend of an earlier message (same id). */
typedef enum {
    WORLD_KIND_VALID = 0,
    WORLD_KIND_MALFORMED,
    WORLD_KIND_MISSING_FIELD,
    WORLD_KIND_DUPLICATE,
    WORLD_KINDS,
} world_kind_t;

/* Properties of a valid message (bit flags), for the summary. */
enum {
    WORLD_TAG_LATE = 1 << 0,
    WORLD_TAG_PRICE_SPIKE = 1 << 1,
    WORLD_TAG_FRAUD_BURST = 1 << 2,
    WORLD_TAG_LARGE_ORDER = 1 << 3,
};

typedef struct {
    double malformed;      /* probability a message is broken JSON */
    double missing_field;  /* ... lacks a required field */
    double duplicate;      /* ... is sent twice (same id) */
    double late;           /* ... has a timestamp minutes in the past */
    double price_spike;    /* ... carries a price 5-20x the list price */
    double fraud;          /* a transaction starts a fraud burst or large order */
} world_faults_t;

typedef struct {
    uint64_t seed;
    double rate[WORLD_STREAMS]; /* events per second; 0 disables a stream */
    int64_t max_events;         /* messages in total, 0 = unlimited */
    double cart_prob;           /* a product view leads to add_to_cart */
    double checkout_prob;       /* a session ending with a cart checks out */
    world_faults_t faults;
    int max_rate;            /* timestamps are "now", not the schedule */
    double multiplier;       /* schedule speed-up, for timestamps */
    int64_t start_wall_ms;   /* wall clock at schedule time 0 */
} world_conf_t;

typedef struct {
    world_stream_t stream;
    world_kind_t kind;
    unsigned tags;
    int64_t due_us; /* schedule time, microseconds from start at rate x1 */
    char key[8];    /* user_id or product_id */
    char *payload;  /* JSON text */
    size_t len;
    int owned;      /* 1: the holder frees it (world_msg_free); 0: borrowed */
} world_msg_t;

typedef struct world world_t;

world_t *world_new(const world_conf_t *conf);
void world_destroy(world_t *w);

/* Takes the next message of stream s, generating events of every stream in
 * schedule order until one for s exists. Returns 1 with *msg filled, 0 when
 * the stream is finished (disabled, or max_events reached). */
int world_next(world_t *w, world_stream_t s, world_msg_t *msg);
/* Takes the next message of any stream, in schedule order (for a single
 * producer thread in max-rate mode: no queues build up). Its payload may be
 * borrowed from the world (owned = 0): valid until the next call, so only
 * one thread may use this function. Returns 1 or 0. */
int world_next_any(world_t *w, world_msg_t *msg);
void world_msg_free(world_msg_t *msg);

/* Current units of product p in warehouse wh (for tests). */
int world_stock(world_t *w, int p, int wh);

extern const char *const world_topic_names[WORLD_STREAMS];
extern const char *const world_kind_names[WORLD_KINDS];

#endif
