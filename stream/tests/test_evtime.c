/*
 * test_evtime.c - the event-time clock (stream/evtime.c) driven as event
 * sequences: per-partition events, progress reports, seals, commits,
 * rewinds and time, checking verdicts, watermarks and the windows reported
 * final. No broker, no database, no sleeps: time is a number passed in.
 */
#include "evtime.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define MS 1000LL        /* now_us per ms */
#define S (1000 * MS)
#define W 30000          /* default window, ms */
#define L 10000          /* default lateness, ms */
#define NWIN 16          /* window slots the sequences below use */

static evtime_t *new_clock(void)
{
    evtime_t *c = evtime_new(NULL);
    assert_non_null(c);
    return c;
}

/* A consuming partition restored from stored (INT64_MIN: nothing stored). */
static evtime_part_t *consuming(evtime_t *c, int64_t stored, int64_t now)
{
    evtime_part_t *p = evtime_part_new(c);
    assert_non_null(p);
    evtime_assign(p);
    evtime_restore(p, stored, now);
    return p;
}

static void commit(evtime_t *c, int64_t now)
{
    evtime_seal(c, now);
    evtime_committed(c);
}

/* Pops every final window into a bitmask of window slots (start / W). */
static unsigned drain(evtime_t *c)
{
    unsigned mask = 0;
    int64_t start;

    while (evtime_final(c, &start)) {
        assert_true(start >= 0 && start / W < NWIN && start % W == 0);
        assert_false(mask & (1u << (start / W))); /* once, and in order */
        mask |= 1u << (start / W);
    }
    return mask;
}

/* --- windows and verdicts ---------------------------------------------- */

static void test_windows_and_conf(void **state)
{
    evtime_conf_t bad = EVTIME_CONF_DEFAULTS;
    evtime_t *c = new_clock();
    evtime_part_t *p = evtime_part_new(c);

    (void)state;
    assert_int_equal(evtime_window_start(c, 0), 0);
    assert_int_equal(evtime_window_end(c, 0), W);
    assert_int_equal(evtime_window_start(c, W - 1), 0);
    assert_int_equal(evtime_window_start(c, W), W);
    assert_int_equal(evtime_window_start(c, -1), -W); /* floor before 1970 */
    assert_int_equal(evtime_window_start(c, -W), -W);
    assert_int_equal(evtime_window_start(c, 1700000012345LL), 1700000010000LL);
    /* not consuming, or out of range: an error that changes nothing */
    assert_int_equal(evtime_event(p, 1000, 0), EVTIME_ERROR);
    evtime_assign(p);
    assert_int_equal(evtime_event(p, 1000, 0), EVTIME_ERROR);
    evtime_restore(p, INT64_MIN, 0);
    assert_int_equal(evtime_event(p, EVTIME_TS_LIMIT + 1, 0), EVTIME_ERROR);
    assert_int_equal(evtime_part_max_ts(p), INT64_MIN);
    assert_int_equal(evtime_open_windows(c), 0);
    evtime_destroy(c);
    evtime_destroy(NULL);
    bad.window_ms = 0;
    assert_null(evtime_new(&bad));
    bad.window_ms = W;
    bad.lateness_ms = -1;
    assert_null(evtime_new(&bad));
    bad.lateness_ms = EVTIME_SPAN_LIMIT + 1;
    assert_null(evtime_new(&bad));
    bad.lateness_ms = L;
    bad.close_ms = -2;
    assert_null(evtime_new(&bad));
}

/* Events at window_start and 1 ms before window_end share a window; the
 * lateness boundary is inclusive: window_end + lateness == max_ts is late. */
static void test_boundaries(void **state)
{
    evtime_t *c = new_clock();
    evtime_part_t *p = consuming(c, INT64_MIN, 0);

    (void)state;
    assert_int_equal(evtime_event(p, 0, 0), EVTIME_ON_TIME);          /* window_start */
    assert_int_equal(evtime_event(p, W - 1, 0), EVTIME_ON_TIME);      /* 1 ms before its end */
    assert_int_equal(evtime_open_windows(c), 1);
    assert_int_equal(evtime_event(p, W + L - 1, 0), EVTIME_ON_TIME);  /* [W, 2W) */
    assert_int_equal(evtime_open_windows(c), 2);
    assert_int_equal(evtime_part_max_ts(p), W + L - 1);
    assert_int_equal(evtime_event(p, 0, 0), EVTIME_ON_TIME);          /* W + L > max_ts: within */
    assert_int_equal(evtime_event(p, 5, 0), EVTIME_ON_TIME);
    assert_int_equal(evtime_part_max_ts(p), W + L - 1);               /* not lowered */
    assert_int_equal(evtime_event(p, W + L, 0), EVTIME_ON_TIME);      /* max_ts = end + lateness */
    assert_int_equal(evtime_event(p, W - 1, 0), EVTIME_LATE);         /* the boundary is late */
    assert_int_equal(evtime_event(p, 0, 0), EVTIME_LATE);
    assert_int_equal(evtime_event(p, W, 0), EVTIME_ON_TIME);          /* the next window is not */
    assert_int_equal(evtime_event(p, -1, 0), EVTIME_LATE);            /* far beyond */
    assert_int_equal(evtime_part_max_ts(p), W + L);
    assert_int_equal(evtime_late_events(c), 3);
    assert_int_equal(evtime_part_late(p), 3);
    assert_int_equal(evtime_open_windows(c), 2);                      /* late ones open nothing */
    assert_int_equal(evtime_part_watermark(p, 0), W);
    assert_int_equal(evtime_watermark(c, 0), W);
    evtime_destroy(c);
}

/* --- replay == live ---------------------------------------------------- */

/* Per-partition sequences with disorder, late events and the boundary. */
static const int64_t seq0[] = {1000, 5000, 29999, 30000, 45000, 12000, 31000, 60000, 85000,
                               59999, 61000, 100000, 120500, 90000};
static const int64_t seq1[] = {2000, 70000, 15000, 35000, 40000, 65000, 95000, 90000, 125000,
                               60000};
static const int64_t seq2[] = {500, 130000, 100, 119999, 129999};
static const int64_t *const seqs[] = {seq0, seq1, seq2};
static const size_t lens[] = {sizeof(seq0) / sizeof(*seq0), sizeof(seq1) / sizeof(*seq1),
                              sizeof(seq2) / sizeof(*seq2)};
#define NPART 3
#define MAXLEN 16

typedef struct {
    int verdict[NPART][MAXLEN];
    int64_t on_time[NWIN]; /* on-time events per window slot */
    unsigned final;        /* window slots reported final */
} outcome_t;

/* The oracle, written apart from evtime.c: per partition, late iff the
 * window's end plus the lateness is at or before the largest earlier ts. */
static void oracle(outcome_t *o)
{
    int64_t floor_max = INT64_MAX;

    memset(o, 0, sizeof(*o));
    for (int p = 0; p < NPART; p++) {
        int64_t max = INT64_MIN;
        for (size_t i = 0; i < lens[p]; i++) {
            int64_t ts = seqs[p][i], end = ts / W * W + W; /* ts >= 0 here */
            o->verdict[p][i] = max != INT64_MIN && end + L <= max ? EVTIME_LATE : EVTIME_ON_TIME;
            if (o->verdict[p][i] == EVTIME_ON_TIME)
                o->on_time[ts / W]++;
            if (ts > max)
                max = ts;
        }
        floor_max = max < floor_max ? max : floor_max;
    }
    for (int k = 0; k < NWIN; k++)
        if (o->on_time[k] > 0 && (int64_t)(k + 1) * W <= floor_max - L)
            o->final |= 1u << k;
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

/* Feeds the sequences in the order `kind` picks: 0..2 one partition fully
 * first (then the others in turn), 3 round robin, 4+ pseudo-random with
 * seals and commits at random points. Checks that no on-time event lands in
 * a window already reported final. */
static void run_order(int kind, outcome_t *o)
{
    evtime_t *c = new_clock();
    evtime_part_t *parts[NPART];
    size_t next[NPART] = {0};
    uint32_t seed = (uint32_t)kind * 7919u;
    size_t left = 0, open_left = 0;
    int64_t now = 0;
    int rr = 0;

    memset(o, 0, sizeof(*o));
    for (int p = 0; p < NPART; p++) {
        parts[p] = consuming(c, INT64_MIN, 0);
        left += lens[p];
    }
    while (left > 0) {
        int p = 0;
        if (kind < NPART) {
            p = kind;
            while (next[p] == lens[p])
                p = (p + 1) % NPART;
        } else {
            p = kind == NPART ? rr++ % NPART : (int)(lcg(&seed) % NPART);
            while (next[p] == lens[p])
                p = (p + 1) % NPART;
        }
        int64_t ts = seqs[p][next[p]];
        int v = evtime_event(parts[p], ts, now);
        assert_true(v == EVTIME_ON_TIME || v == EVTIME_LATE);
        o->verdict[p][next[p]++] = v;
        if (v == EVTIME_ON_TIME) {
            o->on_time[ts / W]++;
            assert_false(o->final & (1u << (ts / W)));
        }
        left--;
        now += MS;
        if (kind > NPART && lcg(&seed) % 3 == 0) {
            commit(c, now);
            o->final |= drain(c);
        }
    }
    commit(c, now);
    o->final |= drain(c);
    assert_int_equal(evtime_reopened(c), 0);
    /* what is not final stays open: the windows with on-time events */
    for (int k = 0; k < NWIN; k++)
        open_left += o->on_time[k] > 0 && !(o->final & (1u << k));
    assert_int_equal(evtime_open_windows(c), open_left);
    evtime_destroy(c);
}

static void test_replay_orders(void **state)
{
    outcome_t want, got;

    (void)state;
    oracle(&want);
    assert_true(want.final != 0);                   /* the sequences finalise windows ... */
    assert_true(want.final != (1u << 5) - 1);       /* ... and leave some open */
    assert_int_equal(want.verdict[1][3], EVTIME_LATE); /* 35000 after 70000: the boundary */
    for (int kind = 0; kind < NPART + 1 + 20; kind++) {
        run_order(kind, &got);
        assert_memory_equal(got.verdict, want.verdict, sizeof(want.verdict));
        assert_memory_equal(got.on_time, want.on_time, sizeof(want.on_time));
        assert_int_equal(got.final, want.final);
    }
}

/* --- restore, rewind, hand-off ----------------------------------------- */

/* A restart after any prefix, from the max_ts persisted with the offset,
 * gives the verdicts of an uninterrupted run. */
static void test_restore_continues(void **state)
{
    outcome_t want;

    (void)state;
    oracle(&want);
    for (size_t k = 0; k <= lens[0]; k++) {
        evtime_t *c = new_clock();
        evtime_part_t *p = consuming(c, INT64_MIN, 0);
        int64_t max_ts = 0, wm = 0;

        for (size_t i = 0; i < k; i++)
            assert_int_equal(evtime_event(p, seq0[i], 0), want.verdict[0][i]);
        evtime_seal(c, 0);
        assert_true(evtime_part_mark(p, &max_ts, &wm));
        evtime_committed(c);
        evtime_destroy(c); /* the crash */
        c = new_clock();
        p = consuming(c, max_ts, 0);
        assert_int_equal(evtime_part_watermark(p, 0), max_ts == INT64_MIN ? INT64_MIN : max_ts - L);
        for (size_t i = k; i < lens[0]; i++)
            assert_int_equal(evtime_event(p, seq0[i], 0), want.verdict[0][i]);
        evtime_destroy(c);
    }
}

/* A dropped batch rewinds max_ts to the committed value: the re-read events
 * get their first verdicts again. */
static void test_rewind(void **state)
{
    outcome_t want;
    evtime_t *c = new_clock();
    evtime_part_t *p = consuming(c, INT64_MIN, 0);
    evtime_part_t *q = consuming(c, INT64_MIN, 0);
    int64_t max_ts, wm;

    (void)state;
    oracle(&want);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(evtime_event(p, seq0[i], 0), want.verdict[0][i]);
    assert_int_equal(evtime_event(q, 200000, 0), EVTIME_ON_TIME);
    commit(c, 0);                               /* stored: p at 45000 */
    for (size_t i = 5; i < 9; i++)              /* up to 85000 ... */
        assert_int_equal(evtime_event(p, seq0[i], 0), want.verdict[0][i]);
    evtime_seal(c, 0);                          /* ... sealed, then the write is lost */
    assert_true(evtime_part_mark(p, &max_ts, &wm));
    assert_int_equal(max_ts, 85000);
    evtime_rewind(p);
    evtime_rewind(q);
    assert_false(evtime_part_mark(p, &max_ts, &wm)); /* the snapshot is forgotten */
    assert_int_equal(evtime_part_max_ts(p), 45000);
    assert_int_equal(evtime_watermark(c, 0), INT64_MIN);           /* loading holds back */
    assert_int_equal(evtime_committed_watermark(c), INT64_MIN);
    assert_int_equal(evtime_event(p, 1000, 0), EVTIME_ERROR);       /* not consuming */
    evtime_committed(c);                        /* a stale result changes nothing */
    evtime_restore(p, 45000, 0);                /* what PostgreSQL holds */
    evtime_restore(q, 200000, 0);
    for (size_t i = 5; i < lens[0]; i++)
        assert_int_equal(evtime_event(p, seq0[i], 0), want.verdict[0][i]);
    /* rewind without an answer yet: still the committed value */
    commit(c, 0);
    assert_int_equal(evtime_event(p, 300000, 0), EVTIME_ON_TIME);
    evtime_rewind(p);
    assert_int_equal(evtime_part_max_ts(p), 120500);
    evtime_restore(p, 120500, 0);
    assert_int_equal(evtime_event(p, 95000, 0), EVTIME_ON_TIME); /* not late: 300000 was dropped */
    evtime_destroy(c);
}

/* The batch in flight and the batch being filled: marks are the snapshot,
 * finals come from the committed copy only, and seal_due says when a
 * watermark-only commit would finalise something. */
static void test_seal_handoff(void **state)
{
    evtime_t *c = new_clock();
    evtime_part_t *p = consuming(c, INT64_MIN, 0), *late_comer;
    int64_t max_ts, wm, start;

    (void)state;
    assert_false(evtime_seal_due(c, 0));
    assert_int_equal(evtime_event(p, 1000, 0), EVTIME_ON_TIME);
    assert_int_equal(evtime_event(p, 41000, 0), EVTIME_ON_TIME); /* wm 31000 passes 30000 */
    assert_true(evtime_seal_due(c, 0));
    evtime_seal(c, 0);
    assert_false(evtime_seal_due(c, 0));                         /* in flight already */
    assert_true(evtime_part_mark(p, &max_ts, &wm));
    assert_int_equal(max_ts, 41000);
    assert_int_equal(wm, 31000);
    late_comer = consuming(c, 50000, 0);                         /* restored after the seal */
    assert_false(evtime_part_mark(late_comer, &max_ts, &wm));
    assert_int_equal(evtime_event(p, 75000, 0), EVTIME_ON_TIME); /* the next batch fills */
    assert_true(evtime_part_mark(p, &max_ts, &wm));
    assert_int_equal(max_ts, 41000);                             /* the snapshot stays */
    assert_false(evtime_final(c, &start));                       /* nothing committed yet */
    evtime_committed(c);
    assert_int_equal(evtime_committed_watermark(c), 31000);      /* min(31000, 40000) */
    assert_true(evtime_final(c, &start));
    assert_int_equal(start, 0);
    assert_false(evtime_final(c, &start));                       /* [30000, 60000) still open */
    assert_int_equal(evtime_open_windows(c), 2);
    assert_int_equal(evtime_watermark(c, 0), 40000);             /* live: late_comer's 50000 - L */
    assert_true(evtime_seal_due(c, 0));                          /* p: 31000 -> 65000 */
    evtime_destroy(c);
}

/* --- idleness and watermarks ------------------------------------------- */

static void test_watermark_min(void **state)
{
    evtime_t *c = new_clock();
    evtime_part_t *a = consuming(c, 100000, 0);
    evtime_part_t *b = consuming(c, 70000, 0);
    evtime_part_t *d = consuming(c, 250000, 0);

    (void)state;
    assert_int_equal(evtime_part_watermark(a, 0), 90000);
    assert_int_equal(evtime_part_watermark(b, 0), 60000);
    assert_int_equal(evtime_part_watermark(d, 0), 240000);
    assert_int_equal(evtime_watermark(c, 0), 60000);
    assert_int_equal(evtime_committed_watermark(c), 60000);
    assert_int_equal(evtime_event(b, 130000, 1 * S), EVTIME_ON_TIME);
    assert_int_equal(evtime_watermark(c, 1 * S), 90000);         /* now a holds it */
    assert_int_equal(evtime_committed_watermark(c), 60000);      /* until committed */
    commit(c, 1 * S);
    assert_int_equal(evtime_committed_watermark(c), 90000);
    evtime_destroy(c);
}

static void test_idle_rules(void **state)
{
    evtime_t *c = new_clock();
    evtime_part_t *p = consuming(c, INT64_MIN, 0);
    evtime_part_t *q = consuming(c, INT64_MIN, 0);

    (void)state;
    assert_int_equal(evtime_event(p, 100000, 0), EVTIME_ON_TIME);
    assert_int_equal(evtime_event(q, 200000, 0), EVTIME_ON_TIME);
    /* never reported: not idle, however long */
    assert_false(evtime_part_idle(p, 3600 * S));
    /* a backlog is never idle */
    evtime_progress(p, 5, 10, 1 * S);
    assert_false(evtime_part_idle(p, 3600 * S));
    assert_int_equal(evtime_part_watermark(p, 3600 * S), 90000);
    evtime_progress(p, 5, -1, 1 * S); /* hi unknown: not caught up either */
    assert_false(evtime_part_idle(p, 3600 * S));
    /* caught up, but within the idle timeout of the backlog */
    evtime_progress(p, 10, 10, 2 * S);
    assert_false(evtime_part_idle(p, 5 * S + 999 * MS));
    assert_int_equal(evtime_watermark(c, 5 * S), 90000);
    /* idle after it: stops holding the watermark back, follows q */
    assert_true(evtime_part_idle(p, 6 * S));
    assert_int_equal(evtime_part_watermark(p, 6 * S), 190000);
    assert_int_equal(evtime_watermark(c, 6 * S), 190000);
    /* a new event makes it active again, and it holds back again */
    assert_int_equal(evtime_event(p, 101000, 7 * S), EVTIME_ON_TIME);
    assert_false(evtime_part_idle(p, 7 * S));
    assert_false(evtime_part_idle(p, 11 * S + 999 * MS));
    assert_int_equal(evtime_watermark(c, 7 * S), 91000);
    assert_true(evtime_part_idle(p, 12 * S)); /* still caught up, quiet again */
    /* a backlog report wakes it too */
    evtime_progress(p, 10, 11, 13 * S);
    assert_false(evtime_part_idle(p, 13 * S));
    assert_int_equal(evtime_watermark(c, 13 * S), 91000);
    evtime_destroy(c);
}

/* Every partition idle: event time goes on at wall speed from the last
 * event, so a window closes (end - T) + lateness after the traffic stops.
 * A partition waking up with old times reopens the window. */
static void test_all_idle_close(void **state)
{
    const int64_t t0 = 1000 * S;
    evtime_t *c = new_clock();
    evtime_part_t *p = consuming(c, INT64_MIN, 0);
    evtime_part_t *q = consuming(c, INT64_MIN, 0);
    int64_t start;

    (void)state;
    assert_int_equal(evtime_event(p, 20000, t0 - 2 * S), EVTIME_ON_TIME);
    assert_int_equal(evtime_event(q, 45000, t0), EVTIME_ON_TIME);   /* T = 45000 */
    evtime_progress(p, 7, 7, t0);
    evtime_progress(q, 3, 3, t0);
    commit(c, t0);
    assert_int_equal(evtime_committed_watermark(c), 10000);
    assert_int_equal(evtime_watermark(c, t0 + 4 * S), 35000);        /* p idle already: q holds it */
    assert_int_equal(evtime_watermark(c, t0 + 5 * S), 40000);        /* all idle: T - L + 5 s */
    assert_true(evtime_seal_due(c, t0 + 5 * S));                     /* p: 10000 -> 40000 passes 30000 */
    /* [0, 30000) closes at once, [30000, 60000) after 15 + 10 s */
    commit(c, t0 + 5 * S);
    assert_true(evtime_final(c, &start));
    assert_int_equal(start, 0);
    assert_false(evtime_final(c, &start));
    assert_int_equal(evtime_watermark(c, t0 + 24 * S + 999 * MS), 59999);
    assert_false(evtime_seal_due(c, t0 + 24 * S + 999 * MS));
    assert_true(evtime_seal_due(c, t0 + 25 * S));
    commit(c, t0 + 25 * S);
    assert_int_equal(evtime_part_watermark(p, t0 + 25 * S), 60000);
    assert_true(evtime_final(c, &start));
    assert_int_equal(start, 30000);
    assert_int_equal(evtime_open_windows(c), 0);
    /* p wakes up with an old time: on time (its own verdict), reopened */
    assert_int_equal(evtime_event(p, 31000, t0 + 26 * S), EVTIME_ON_TIME);
    assert_int_equal(evtime_reopened(c), 1);
    assert_int_equal(evtime_open_windows(c), 1);
    assert_int_equal(evtime_watermark(c, t0 + 26 * S), 21000);       /* p holds back again */
    commit(c, t0 + 26 * S);
    assert_false(evtime_final(c, &start));
    /* a longer close delays it; close 0 closes at the window end */
    evtime_destroy(c);
    {
        evtime_conf_t conf = EVTIME_CONF_DEFAULTS;
        conf.close_ms = 0;
        c = evtime_new(&conf);
        assert_non_null(c);
        p = consuming(c, INT64_MIN, 0);
        assert_int_equal(evtime_event(p, 45000, t0), EVTIME_ON_TIME);
        evtime_progress(p, 1, 1, t0);
        assert_int_equal(evtime_watermark(c, t0 + 5 * S), 50000);    /* T + 5 s > T - L */
        assert_int_equal(evtime_watermark(c, t0 + 15 * S), 60000);
    }
    evtime_destroy(c);
}

/* Empty partitions: one that is not idle holds everything back; an idle
 * one does not; an all-empty idle stream holds nothing. */
static void test_empty_partitions(void **state)
{
    evtime_t *c = new_clock();
    evtime_part_t *e = consuming(c, INT64_MIN, 0);
    evtime_part_t *f = consuming(c, INT64_MIN, 0);
    evtime_part_t *q;

    (void)state;
    assert_int_equal(evtime_watermark(c, 0), INT64_MIN);
    evtime_progress(e, 0, 0, 0);
    evtime_progress(f, 0, 0, 0);
    assert_int_equal(evtime_watermark(c, 4 * S), INT64_MIN);
    assert_int_equal(evtime_watermark(c, 5 * S), INT64_MAX);
    assert_int_equal(evtime_part_watermark(e, 5 * S), INT64_MAX);
    assert_true(evtime_seal_due(c, 5 * S));                           /* persist that */
    commit(c, 5 * S);
    assert_int_equal(evtime_committed_watermark(c), INT64_MAX);
    assert_false(evtime_seal_due(c, 6 * S));
    /* a third with events, not caught up: it alone decides */
    q = consuming(c, INT64_MIN, 6 * S);
    assert_int_equal(evtime_event(q, 100000, 6 * S), EVTIME_ON_TIME);
    assert_int_equal(evtime_watermark(c, 6 * S), 90000);
    assert_int_equal(evtime_part_watermark(e, 6 * S), 90000);
    /* e wakes up (a backlog) without an event yet: INT64_MIN holds back */
    evtime_progress(e, 0, 4, 7 * S);
    assert_int_equal(evtime_watermark(c, 7 * S), INT64_MIN);
    assert_int_equal(evtime_part_watermark(f, 7 * S), INT64_MIN);
    evtime_destroy(c);
}

static void test_revoke_assign(void **state)
{
    evtime_t *c = new_clock();
    evtime_part_t *p = consuming(c, 100000, 0);
    evtime_part_t *q = consuming(c, 50000, 0);
    int64_t max_ts, wm, start;

    (void)state;
    assert_int_equal(evtime_event(q, 52000, 0), EVTIME_ON_TIME);
    assert_int_equal(evtime_watermark(c, 0), 42000);
    evtime_seal(c, 0);
    evtime_revoke(q);                          /* revoked while its batch is written */
    assert_false(evtime_part_mark(q, &max_ts, &wm));
    evtime_committed(c);
    assert_int_equal(evtime_watermark(c, 0), 90000);
    assert_int_equal(evtime_committed_watermark(c), 90000);
    assert_int_equal(evtime_part_watermark(q, 0), INT64_MIN);
    assert_int_equal(evtime_event(q, 53000, 0), EVTIME_ERROR);
    assert_true(evtime_final(c, &start));      /* q's window: p is past it */
    assert_int_equal(start, 30000);
    /* reassigned: loading holds back until its stored value is read */
    evtime_assign(q);
    assert_int_equal(evtime_watermark(c, 0), INT64_MIN);
    assert_int_equal(evtime_committed_watermark(c), INT64_MIN);
    assert_int_equal(evtime_part_max_ts(q), INT64_MIN);
    evtime_restore(q, 80000, 0);               /* another instance moved it on */
    assert_int_equal(evtime_watermark(c, 0), 70000);
    assert_int_equal(evtime_event(q, 52000, 0), EVTIME_LATE);
    /* nothing assigned: nothing known */
    evtime_revoke(p);
    evtime_revoke(q);
    evtime_rewind(q);                          /* no-op when unassigned */
    assert_int_equal(evtime_watermark(c, 0), INT64_MIN);
    assert_int_equal(evtime_committed_watermark(c), INT64_MIN);
    evtime_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_and_conf),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_replay_orders),
        cmocka_unit_test(test_restore_continues),
        cmocka_unit_test(test_rewind),
        cmocka_unit_test(test_seal_handoff),
        cmocka_unit_test(test_watermark_min),
        cmocka_unit_test(test_idle_rules),
        cmocka_unit_test(test_all_idle_close),
        cmocka_unit_test(test_empty_partitions),
        cmocka_unit_test(test_revoke_assign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
