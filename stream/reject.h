/*
 * reject.h - the decisions behind "a row PostgreSQL rejects never stalls
 * its partition", apart from any I/O (sink.c performs them):
 *
 *  - which errors are rejections of the batch's own data (SQLSTATE class 22
 *    data exception, class 23 integrity constraint violation, 54000 program
 *    limit exceeded such as an index row too large), as opposed to trouble
 *    that a retry can cure (connection, serialization, deadlock, timeouts,
 *    shutdown, privileges, a missing table...);
 *  - the bisect plan: which ranges of a rejected batch's messages to write
 *    on their own, under a savepoint each, until every rejected message is
 *    alone and everything else is written exactly once;
 *  - how many rejection warnings the log gets (a burst, then a count).
 *
 * The plan works on message ordinals 0..n-1 (a message's rows, such as a
 * transaction and its items, are never split). It starts from a batch whose
 * whole write was rejected, halves each range known to hold a rejected
 * message, and when the left half of such a range is written cleanly,
 * knows the right half holds it and halves that one without trying it
 * whole; a range of REJECT_PLAN_SINGLES messages or fewer known to hold
 * one is tried message by message. A single message is always tried alone
 * before it is judged, so a message that only failed in company (an error
 * that was not about one row) is written, never dead-lettered. k rejected
 * messages of n cost at most k (2 log2(n) + REJECT_PLAN_SINGLES) tries
 * (one in 20,000: 17 to 28); a batch where every message is rejected
 * about 1.4 n (halving alone would take 2 n - 2). Pure: no allocation, no
 * clock (time comes in as now_us).
 */
#ifndef ECOM_REJECT_H
#define ECOM_REJECT_H

#include <stddef.h>
#include <stdint.h>

/* 1 when an error with this SQLSTATE (5 characters; NULL: none) rejects the
 * data being written, 0 when it is trouble worth a retry. */
int reject_sqlstate_is_rejection(const char *sqlstate);

typedef struct {
    size_t lo, hi;      /* messages [lo, hi) */
    int known_bad;      /* holds a rejected message: split without trying */
    int after_left;     /* the right half of a known-bad range whose left
                         * half is being tried */
} reject_range_t;

/* Known-bad ranges this small are tried message by message. */
#define REJECT_PLAN_SINGLES 8

/* Enough for 2^64 messages: one pending range per level, the current one,
 * and the singles of a small range. */
#define REJECT_PLAN_DEPTH (2 * 64 + 2 + REJECT_PLAN_SINGLES)

typedef struct {
    reject_range_t stack[REJECT_PLAN_DEPTH];
    size_t depth;
    reject_range_t cur;  /* the range handed out by reject_plan_next() */
    int trying;          /* cur awaits reject_plan_result() */
    size_t tries;        /* ranges handed out */
    size_t written;      /* messages in ranges written */
    size_t rejected;     /* messages judged rejected */
} reject_plan_t;

/* A plan over messages [0, n) whose write as a whole was rejected. */
void reject_plan_init(reject_plan_t *p, size_t n);
/* The next range to write on its own: returns 1 and sets [*lo, *hi), or 0
 * when the plan is done (every message written or rejected). */
int reject_plan_next(reject_plan_t *p, size_t *lo, size_t *hi);
/* The outcome of the range last handed out: ok 1 written, 0 rejected.
 * Returns 1 when that range was one message, now rejected for good (the
 * caller dead-letters it with the error it just got), else 0. */
int reject_plan_result(reject_plan_t *p, int ok);

/* Rejection warnings: at most REJECT_LOG_BURST per REJECT_LOG_WINDOW_US,
 * the rest counted. */
#define REJECT_LOG_BURST 10
#define REJECT_LOG_WINDOW_US (10 * 1000000LL)

typedef struct {
    int64_t window_us; /* start of the current window; 0: none yet */
    int used;          /* warnings logged in it */
    long long skipped; /* warnings not logged since the last one that was */
} reject_limit_t;

/* 1 when one more warning may be logged at now_us (and counts it), 0 when
 * it must be skipped (counted in l->skipped). */
int reject_limit_take(reject_limit_t *l, int64_t now_us);
/* The warnings skipped since the last call, and forgets them. */
long long reject_limit_skipped(reject_limit_t *l);

#endif
