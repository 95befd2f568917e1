/*
 * reject.c - rejection decisions for ecom-stream (see reject.h): SQLSTATE
 * classes, the bisect plan over a rejected batch's messages, and the
 * warning limiter. Owns nothing but the caller's structs; pure.
 */
#include "reject.h"

#include <string.h>

int reject_sqlstate_is_rejection(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return 0;
    /* 22: data exception (value out of range, too long, invalid text or
     * byte sequence, ...). 23: integrity constraint violation (CHECK, NOT
     * NULL, foreign key, unique and exclusion beyond what ON CONFLICT
     * absorbs). 54000: a row past a program limit (an index row too large
     * for a B-tree). Everything else (08 connection, 40 serialization and
     * deadlock, 53 resources, 57 cancel and shutdown, 42 privileges and
     * missing objects, XX internal...) does not depend on one row. */
    return strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
           strcmp(sqlstate, "54000") == 0;
}

static void push(reject_plan_t *p, reject_range_t r)
{
    if (p->depth < REJECT_PLAN_DEPTH) /* never full: see REJECT_PLAN_DEPTH */
        p->stack[p->depth++] = r;
}

void reject_plan_init(reject_plan_t *p, size_t n)
{
    memset(p, 0, sizeof(*p));
    if (n > 0)
        push(p, (reject_range_t){0, n, 1, 0});
}

int reject_plan_next(reject_plan_t *p, size_t *lo, size_t *hi)
{
    if (p->trying)
        return 0; /* the caller owes the result of cur */
    while (p->depth > 0) {
        reject_range_t r = p->stack[--p->depth];

        if (r.known_bad && r.hi - r.lo > REJECT_PLAN_SINGLES) {
            size_t mid = r.lo + (r.hi - r.lo) / 2;
            push(p, (reject_range_t){mid, r.hi, 0, 1});
            push(p, (reject_range_t){r.lo, mid, 0, 0});
            continue;
        }
        if (r.known_bad && r.hi - r.lo > 1) {
            /* small enough: each message alone, which is cheaper than
             * halving when several of them are bad (and they are likely
             * to be: the ranges above failed) */
            for (size_t i = r.hi; i > r.lo; i--)
                push(p, (reject_range_t){i - 1, i, 0, 0});
            continue;
        }
        p->cur = r;
        p->trying = 1;
        p->tries++;
        *lo = r.lo;
        *hi = r.hi;
        return 1;
    }
    return 0;
}

int reject_plan_result(reject_plan_t *p, int ok)
{
    reject_range_t *sibling;

    if (!p->trying)
        return 0;
    p->trying = 0;
    /* The right half of cur's parent, when cur was its left half. */
    sibling = p->depth > 0 && p->stack[p->depth - 1].after_left &&
                      p->stack[p->depth - 1].lo == p->cur.hi
                  ? &p->stack[p->depth - 1]
                  : NULL;
    if (sibling != NULL) {
        sibling->after_left = 0;
        sibling->known_bad = ok; /* the parent's rejected message is there */
    }
    if (ok) {
        p->written += p->cur.hi - p->cur.lo;
        return 0;
    }
    if (p->cur.hi - p->cur.lo == 1) {
        p->rejected++;
        return 1;
    }
    p->cur.known_bad = 1;
    p->cur.after_left = 0;
    push(p, p->cur);
    return 0;
}

int reject_limit_take(reject_limit_t *l, int64_t now_us)
{
    if (l->window_us == 0 || now_us - l->window_us >= REJECT_LOG_WINDOW_US) {
        l->window_us = now_us;
        l->used = 0;
    }
    if (l->used < REJECT_LOG_BURST) {
        l->used++;
        return 1;
    }
    l->skipped++;
    return 0;
}

long long reject_limit_skipped(reject_limit_t *l)
{
    long long n = l->skipped;

    l->skipped = 0;
    return n;
}
