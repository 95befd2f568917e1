"""tests/integration/analytics_corpus.py - the deterministic corpus of the
analytics tests and its oracle, written apart from ecom-stream's C and SQL.

  gen FILE                   writes the corpus: one JSON line per message,
                             {"topic", "partition", "key", "value"}, in the
                             order it is produced (fixed ids and timestamps)
  produce FILE BOOTSTRAP [--from N] [--to M] [--pause-every K --pause-ms MS]
                             produces messages N..M-1 of FILE to their
                             partitions (confluent-kafka, acks=all,
                             idempotence), waits for every delivery
  compare FILE               recomputes every analytics table from the
                             corpus alone (the rules of issue 9, written
                             out below) and compares it, value by value,
                             with what PostgreSQL holds (psql, PG*
                             variables); prints each difference; exit 1 on
                             any, 0 when all agree

The corpus (3 partitions per topic, event time from 2026-01-01T00:00:00Z, 30 s
windows, 10 s lateness) holds ordinary traffic over 40 windows with small
out-of-order jitter (on time), a burst window (an anomaly), events exactly
at a window's start and 1 ms before its end, late events beyond the lateness
and on both sides of its boundary, exact duplicates (re-sent in the same
partition), each fraud rule firing and not firing, and stock crossing below
the threshold, staying low, coming back, falling again, plus a stale update.

Runs on /usr/bin/python3 (Debian's python3-confluent-kafka).
"""

import json
import os
import random
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

T0 = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
WINDOW = 30_000
LATENESS = 10_000
PARTITIONS = 3
WINDOWS = 40
TRENDING_SPAN = 300_000
TRENDING_N = 5
VELOCITY_COUNT, VELOCITY_SPAN = 5, 60_000
HIGH_VALUE_CENTS = 500_000
QUANTITY_SPIKE = 10
LOW_STOCK = 20

CATALOG = {  # sql/init.sql's products
    "P001": ("iPhone 15 Pro", "Electronics", 99999),
    "P002": ("Samsung Galaxy S24", "Electronics", 84999),
    "P003": ("MacBook Air M3", "Electronics", 129900),
    "P004": ("Sony WH-1000XM5 Headphones", "Electronics", 39999),
    "P005": ("Nike Air Max 270", "Footwear", 15000),
    "P006": ("Adidas Ultraboost 23", "Footwear", 19000),
    "P007": ("Levi's 501 Original Jeans", "Clothing", 6950),
    "P008": ("The North Face Nuptse Jacket", "Clothing", 32000),
    "P009": ("Instant Pot Duo 7-in-1", "Home & Kitchen", 8999),
    "P010": ("Dyson V15 Detect Vacuum", "Home & Kitchen", 74999),
}
WAREHOUSES = ["NYC", "LAX", "CHI", "MIA"]


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def money(cents):
    return "%d.%02d" % (cents // 100, cents % 100)


def user_partition(user):
    return int(user[1:]) % PARTITIONS


def product_partition(product):
    return int(product[1:]) % PARTITIONS


class Corpus:
    """Builds the message list; ids come from a seeded generator."""

    def __init__(self, seed=9):
        self.rng = random.Random(seed)
        self.messages = []

    def uid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(self, topic, partition, key, value):
        self.messages.append({"topic": topic, "partition": partition, "key": key,
                              "value": json.dumps(value, separators=(",", ":"))})
        return self.messages[-1]

    def user_event(self, user, ts, kind, product="P001", session=None):
        v = {"event_id": self.uid(), "user_id": user, "event_type": kind, "timestamp": iso(ts)}
        if kind == "search":
            v["search_query"] = "headphones"
        else:
            name, cat, price = CATALOG[product]
            v.update(product_id=product, product_name=name, category=cat, price=float(money(price)))
        v["session_id"] = session or "session_%s_%d" % (user, ts // 600_000)
        return self.emit("user-events", user_partition(user), user, v)

    def transaction(self, user, ts, lines, tax=None, shipping=None, total=None):
        items, sub = [], 0
        for product, qty in lines:
            name, _, price = CATALOG[product]
            items.append({"product_id": product, "product_name": name, "price": float(money(price)),
                          "quantity": qty, "item_total": float(money(price * qty))})
            sub += price * qty
        tax = (sub * 8 + 50) // 100 if tax is None else tax
        shipping = (0 if sub >= 5000 else 599) if shipping is None else shipping
        total = sub + tax + shipping if total is None else total
        v = {"transaction_id": self.uid(), "user_id": user, "event_type": "purchase",
             "timestamp": iso(ts), "payment_method": "credit_card", "items": items,
             "total_amount": float(money(total)), "tax_amount": float(money(tax)),
             "shipping_cost": float(money(shipping)),
             "shipping_address": {"street": "1 Main St", "city": "Springfield",
                                  "postal_code": "12345", "country": "US"}}
        return self.emit("transactions", user_partition(user), user, v)

    def inventory(self, product, warehouse, ts, stock, change=-1):
        v = {"event_id": self.uid(), "event_type": "inventory_update", "product_id": product,
             "product_name": CATALOG[product][0], "stock_change": change, "current_stock": stock,
             "warehouse_location": warehouse, "timestamp": iso(ts)}
        return self.emit("inventory-updates", product_partition(product), product, v)

    def resend(self, msg):
        self.messages.append(dict(msg))


def build():
    c = Corpus()
    rng = c.rng
    users = ["U%04d" % i for i in range(1, 61)]
    products = sorted(CATALOG)
    specials = {}  # window index -> list of callables emitting at that point
    # Ordinary traffic, window by window; each window's events in time order
    # with up to 3 s of jitter (on time: well within the lateness).
    for w in range(WINDOWS):
        base = T0 + w * WINDOW
        n = 90 if w == 30 else 18 + (w * 7) % 5  # window 30: a burst
        for i in range(n):
            ts = base + (i * WINDOW) // n + rng.randrange(0, 1500)
            ts = max(base, ts - rng.randrange(0, 3000)) if i % 4 == 3 else ts
            user = users[rng.randrange(len(users))]
            product = products[min(len(products) - 1, int(rng.random() ** 2 * len(products)))]
            kind = ["product_view", "product_view", "product_view", "add_to_cart", "search"][rng.randrange(5)]
            c.user_event(user, ts, kind, product)
            if i % 6 == 5:
                c.transaction(user, ts + 200, [(product, 1 + rng.randrange(3))])
            if i % 9 == 4:
                p, wh = products[rng.randrange(10)], WAREHOUSES[rng.randrange(4)]
                if p not in ("P003", "P006") or wh not in ("NYC", "LAX"):
                    c.inventory(p, wh, ts + 100, 30 + rng.randrange(150))
        for f in specials.get(w, []):
            f()
        if w == 5:
            # exactly at a window's start and 1 ms before its end (window 6,
            # not yet reached by any partition's max: on time)
            c.user_event("U0003", T0 + 6 * WINDOW, "product_view", "P005")
            c.user_event("U0003", T0 + 7 * WINDOW - 1, "add_to_cart", "P005")
            c.user_event("U0006", T0 + 6 * WINDOW, "product_view", "P009")
            c.user_event("U0006", T0 + 7 * WINDOW - 1, "product_view", "P009")
        if w == 12:
            # Late events, user-events partition 0 (U0003, U0006 ...): its
            # max is about T0 + 13 windows now. A window ending 20 s before
            # that max is late; then exact boundary cases against a fresh max.
            top = T0 + 13 * WINDOW  # window 13's start, ahead of every event so far
            c.user_event("U0003", top, "product_view", "P001")            # max = top
            c.user_event("U0003", top - 25_000, "product_view", "P002")   # window [top-30 s, top) on time: end + 10 s > top
            c.user_event("U0006", top - WINDOW - 5_000, "product_view", "P002")  # window ends top - 30 s: late
            c.user_event("U0006", top - WINDOW - 1, "add_to_cart", "P004")      # window ends top - 30 s: late
            c.user_event("U0003", top - 3 * WINDOW, "search")                    # late
            t1 = T0 + 13 * WINDOW + 20_000  # partition 1 (U0001, U0004 ...)
            c.user_event("U0001", t1, "product_view", "P007")             # max = t1
            c.user_event("U0004", t1 - 20_000 - 1, "product_view", "P007")  # its window [t1-50 s, t1-20 s): end + 10 s = t1 - 10 s <= t1: late
            c.user_event("U0004", t1 - 10_000, "product_view", "P008")    # window [t1-20 s, t1+10 s): on time
            # partition 2 (U0002, U0005 ...): window 13 ends at T0 + 14 W;
            # with the max 1 ms short of end + lateness an event of it is on
            # time, with the max at exactly end + lateness it is late
            t2 = T0 + 14 * WINDOW + LATENESS
            c.user_event("U0002", t2 - 1, "product_view", "P010")
            c.user_event("U0005", T0 + 14 * WINDOW - 5, "product_view", "P010")  # on time
            c.user_event("U0002", t2, "product_view", "P010")
            c.user_event("U0005", T0 + 14 * WINDOW - 6, "add_to_cart", "P010")   # late
        if w == 16:
            # exact duplicates, re-sent in their own partition
            for m in [m for m in c.messages if m["topic"] in ("user-events", "transactions")][-40::7]:
                c.resend(m)
        if w == 20:
            base20 = T0 + 20 * WINDOW
            # velocity: U0007 7 transactions within 30 s (6th, 7th flagged);
            # U0010 exactly 5 within 50 s (none); U0013 6 within 59 s (6th).
            for k in range(7):
                c.transaction("U0007", base20 + k * 5000, [("P009", 1)])
            for k in range(5):
                c.transaction("U0010", base20 + k * 12_500, [("P007", 1)])
            for k in range(6):
                c.transaction("U0013", base20 + 1000 + (k * 59_000) // 5, [("P005", 1)])
            # high value: 5000.00 is not above the threshold, 5000.01 is
            c.transaction("U0021", base20 + 2000, [("P003", 3)], tax=500_000 - 3 * 129900, shipping=0)
            c.transaction("U0022", base20 + 3000, [("P003", 3)], tax=500_000 - 3 * 129900, shipping=1)
            # amount mismatch
            c.transaction("U0023", base20 + 4000, [("P001", 1)], total=12345)
            # quantity: 10 is not a spike, 11 is
            c.transaction("U0024", base20 + 5000, [("P007", 10)])
            c.transaction("U0025", base20 + 6000, [("P007", 11), ("P008", 1)])
            # stock of P003 at NYC: 25, 19 (low), 15 (still low), 22
            # (restored), 5 (low again), and a stale 100 (older than all)
            for k, stock in enumerate([25, 19, 15, 22, 5]):
                c.inventory("P003", "NYC", base20 + k * 4000, stock)
            c.inventory("P003", "NYC", base20 - 60_000, 100)
            # P006 at LAX stays above the threshold
            for k, stock in enumerate([50, 40, 21, 20]):
                c.inventory("P006", "LAX", base20 + k * 3000, stock)
    # The stream's idle close ends the last windows: no sentinel needed.
    return c.messages


# --------------------------------------------------------------- the oracle
def expected(messages):
    """Every analytics table as the rules of issue 9 define it."""
    seen = set()
    max_ts = {}
    stored = []  # (topic, partition, offset, value, late)
    offsets = defaultdict(int)
    for m in messages:
        tp = (m["topic"], m["partition"])
        off = offsets[tp]
        offsets[tp] += 1
        v = json.loads(m["value"])
        ts = int(datetime.strptime(v["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
                 .replace(tzinfo=timezone.utc).timestamp() * 1000)
        key = v.get("event_id") or v.get("transaction_id")
        prev = max_ts.get(tp)
        late = prev is not None and (ts - ts % WINDOW) + WINDOW + LATENESS <= prev
        max_ts[tp] = ts if prev is None else max(prev, ts)
        if (m["topic"], key, ts) in seen:
            continue
        seen.add((m["topic"], key, ts))
        stored.append((m["topic"], m["partition"], off, v, ts, late))

    def wstart(ts):
        return ts - ts % WINDOW

    prod = defaultdict(lambda: [0, 0, set(), 0, 0])  # views, carts, orders, units, revenue
    traffic = defaultdict(lambda: {"user_events": 0, "product_views": 0, "add_to_carts": 0, "searches": 0,
                                   "transactions": 0, "inventory_updates": 0, "users": set(),
                                   "sessions": set(), "revenue": 0, "late_events": 0})
    catalog = {p: CATALOG[p][1] for p in CATALOG}
    fraud = set()
    by_user = defaultdict(list)
    for topic, part, off, v, ts, late in stored:
        w = wstart(ts)
        if late:
            traffic[w]["late_events"] += 1
            continue
        t = traffic[w]
        if topic == "user-events":
            t["user_events"] += 1
            t["users"].add(v["user_id"])
            t["sessions"].add(v["session_id"])
            kind = v["event_type"]
            if kind == "search":
                t["searches"] += 1
                continue
            catalog[v["product_id"]] = v["category"]
            row = prod[(w, v["product_id"])]
            if kind == "product_view":
                t["product_views"] += 1
                row[0] += 1
            else:
                t["add_to_carts"] += 1
                row[1] += 1
        elif topic == "transactions":
            t["transactions"] += 1
            t["users"].add(v["user_id"])
            t["revenue"] += round(v["total_amount"] * 100)
            for it in v["items"]:
                row = prod[(w, it["product_id"])]
                row[2].add(v["transaction_id"])
                row[3] += it["quantity"]
                row[4] += round(it["item_total"] * 100)
        else:
            t["inventory_updates"] += 1
    for topic, part, off, v, ts, late in stored:
        if topic != "transactions":
            continue
        by_user[v["user_id"]].append(ts)
        if round(v["total_amount"] * 100) > HIGH_VALUE_CENTS:
            fraud.add((v["transaction_id"], "high_value"))
        items_sum = sum(round(it["item_total"] * 100) for it in v["items"])
        if items_sum + round(v["tax_amount"] * 100) + round(v["shipping_cost"] * 100) != round(v["total_amount"] * 100):
            fraud.add((v["transaction_id"], "amount_mismatch"))
        if any(it["quantity"] > QUANTITY_SPIKE for it in v["items"]):
            fraud.add((v["transaction_id"], "quantity_spike"))
    for topic, part, off, v, ts, late in stored:
        if topic == "transactions":
            n = sum(1 for u in by_user[v["user_id"]] if ts - VELOCITY_SPAN <= u <= ts)
            if n > VELOCITY_COUNT:
                fraud.add((v["transaction_id"], "velocity"))

    products = {}
    for (w, p), (views, carts, orders, units, rev) in prod.items():
        products[(w, p)] = (catalog[p], views, carts, len(orders), units, rev)
    categories = {}
    cat_orders = defaultdict(set)
    for (w, p), (views, carts, orders, units, rev) in prod.items():
        k = (w, catalog[p])
        a = categories.setdefault(k, [0, 0, 0, 0])
        a[0] += views
        a[1] += carts
        a[2] += units
        a[3] += rev
        cat_orders[k] |= orders
    cats = {k: (a[0], a[1], len(cat_orders[k]), a[2], a[3]) for k, a in categories.items()}

    # trending: at each window end, top N per category by views over the span
    trending = {}
    ends = sorted({w + WINDOW for w in traffic})
    for end in ends:
        span = defaultdict(lambda: [0, 0, 0])
        for (w, p), (cat, views, carts, orders, units, rev) in products.items():
            if end - TRENDING_SPAN <= w < end:
                s = span[(cat, p)]
                s[0] += views
                s[1] += carts
                s[2] += orders
        for cat in sorted({c for c, _ in span}):
            ranked = sorted(((-s[0], p, s) for (c, p), s in span.items() if c == cat and s[0] > 0))[:TRENDING_N]
            for rank, (_, p, s) in enumerate(ranked, 1):
                trending[(end, cat, rank)] = (p, s[0], s[1], s[2])

    # inventory: the level follows event time (ties: partition, offset); an
    # update that becomes the level can cross the threshold
    levels, alerts, low = {}, [], {}
    for topic, part, off, v, ts, late in stored:
        if topic != "inventory-updates":
            continue
        k = (v["product_id"], v["warehouse_location"])
        order = (ts, part, off)
        if k in levels and levels[k][0] >= order:
            continue
        levels[k] = (order, v["current_stock"])
        is_low = v["current_stock"] < LOW_STOCK
        if is_low and not low.get(k):
            alerts.append((k[0], k[1], v["current_stock"], "low", ts))
        elif not is_low and low.get(k):
            alerts.append((k[0], k[1], v["current_stock"], "restored", ts))
        low[k] = is_low
    return {"products": products, "categories": cats, "traffic": traffic, "trending": trending,
            "fraud": fraud, "levels": {k: (o[0], s) for k, (o, s) in levels.items()}, "alerts": alerts}


# ------------------------------------------------------------ PostgreSQL side
def psql(query):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def ms(text):
    """epoch ms of a timestamptz printed by SELECT extract(epoch ...) * 1000."""
    return int(Decimal(text))


def cents(text):
    return int(Decimal(text or "0") * 100)


def compare(messages):
    exp = expected(messages)
    diffs = []

    def diff(table, key, want, got):
        if want != got:
            diffs.append("%s %s: expected %s, got %s" % (table, key, want, got))

    rows = psql("SELECT (extract(epoch FROM window_start) * 1000)::bigint, product_id, category, views,"
                " add_to_carts, orders, units_sold, revenue, is_final,"
                " (extract(epoch FROM window_end - window_start) * 1000)::bigint FROM product_window_metrics")
    got = {}
    for r in rows:
        got[(ms(r[0]), r[1])] = (r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), cents(r[7]))
        if r[8] != "t":
            diffs.append("product_window_metrics %s %s: not final" % (r[0], r[1]))
        if int(r[9]) != WINDOW:
            diffs.append("product_window_metrics %s %s: window of %s ms" % (r[0], r[1], r[9]))
    for k in sorted(set(exp["products"]) | set(got)):
        diff("product_window_metrics", k, exp["products"].get(k), got.get(k))

    rows = psql("SELECT (extract(epoch FROM window_start) * 1000)::bigint, category, views, add_to_carts,"
                " orders, units_sold, revenue, conversion_rate, is_final FROM category_window_metrics")
    got = {}
    for r in rows:
        got[(ms(r[0]), r[1])] = (int(r[2]), int(r[3]), int(r[4]), int(r[5]), cents(r[6]))
        want_rate = (Decimal(int(r[4])) / int(r[2])) if int(r[2]) else None
        have_rate = Decimal(r[7]) if r[7] != "" else None
        if (want_rate is None) != (have_rate is None) or (
                want_rate is not None and abs(want_rate - have_rate) > Decimal("0.0001")):
            diffs.append("category_window_metrics %s %s: conversion_rate %s, expected %s"
                         % (r[0], r[1], r[7], want_rate))
        if r[8] != "t":
            diffs.append("category_window_metrics %s %s: not final" % (r[0], r[1]))
    for k in sorted(set(exp["categories"]) | set(got)):
        diff("category_window_metrics", k, exp["categories"].get(k), got.get(k))

    rows = psql("SELECT (extract(epoch FROM window_start) * 1000)::bigint, user_events, product_views,"
                " add_to_carts, searches, transactions, inventory_updates, active_users, active_sessions,"
                " revenue, late_events, is_final FROM traffic_window_metrics"
                " WHERE user_events + transactions + inventory_updates + late_events > 0")
    got = {}
    for r in rows:
        got[ms(r[0])] = tuple(int(x) for x in r[1:9]) + (cents(r[9]), int(r[10]))
        if r[11] != "t":
            diffs.append("traffic_window_metrics %s: not final" % r[0])
    want = {}
    for w, t in exp["traffic"].items():
        want[w] = (t["user_events"], t["product_views"], t["add_to_carts"], t["searches"], t["transactions"],
                   t["inventory_updates"], len(t["users"]), len(t["sessions"]), t["revenue"], t["late_events"])
    for k in sorted(set(want) | set(got)):
        diff("traffic_window_metrics", k, want.get(k), got.get(k))

    rows = psql("SELECT (extract(epoch FROM window_end) * 1000)::bigint, category, rank, product_id, views,"
                " add_to_carts, orders FROM trending_products")
    # windows after the corpus (empty ones the idle stream closes) rank the
    # same products again: compared by sql/checks/windows.sql, not here
    ends = {w + WINDOW for w in exp["traffic"]}
    got = {(ms(r[0]), r[1], int(r[2])): (r[3], int(r[4]), int(r[5]), int(r[6])) for r in rows
           if ms(r[0]) in ends}
    for k in sorted(set(exp["trending"]) | set(got)):
        diff("trending_products", k, exp["trending"].get(k), got.get(k))

    rows = psql("SELECT transaction_id, rule FROM fraud_alerts")
    got = set((r[0], r[1]) for r in rows)
    if len(rows) != len(got):
        diffs.append("fraud_alerts: %d rows, %d distinct (transaction, rule)" % (len(rows), len(got)))
    for k in sorted(exp["fraud"] - got):
        diffs.append("fraud_alerts %s: missing" % (k,))
    for k in sorted(got - exp["fraud"]):
        diffs.append("fraud_alerts %s: unexpected" % (k,))

    rows = psql("SELECT product_id, warehouse_location, current_stock,"
                " (extract(epoch FROM event_time) * 1000)::bigint FROM inventory_levels")
    got = {(r[0], r[1]): (ms(r[3]), int(r[2])) for r in rows}
    for k in sorted(set(exp["levels"]) | set(got)):
        diff("inventory_levels", k, exp["levels"].get(k), got.get(k))

    rows = psql("SELECT product_id, warehouse_location, current_stock, state,"
                " (extract(epoch FROM event_time) * 1000)::bigint FROM inventory_alerts"
                " ORDER BY product_id, warehouse_location, event_time")
    got = sorted((r[0], r[1], int(r[2]), r[3], ms(r[4])) for r in rows)
    want = sorted(exp["alerts"])
    if got != want:
        diffs.append("inventory_alerts: expected %s, got %s" % (want, got))

    for d in diffs[:200]:
        print(d)
    if len(diffs) > 200:
        print("... %d differences in all" % len(diffs))
    counts = (len(exp["products"]), len(exp["categories"]), len(exp["traffic"]), len(exp["trending"]),
              len(exp["fraud"]), len(exp["levels"]), len(exp["alerts"]))
    print("# compared: %d product windows, %d category windows, %d traffic windows, %d trending rows,"
          " %d fraud alerts, %d stock levels, %d stock alerts; %d differences" % (counts + (len(diffs),)))
    return 1 if diffs or min(counts) == 0 else 0


def produce(messages, bootstrap, first, last, pause_every, pause_ms):
    import time
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5})
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))

    for i, m in enumerate(messages[first:last]):
        while True:
            try:
                p.produce(m["topic"], m["value"].encode(), m["key"].encode(), partition=m["partition"],
                          on_delivery=report)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
        if pause_every and (i + 1) % pause_every == 0:
            p.flush(30)
            time.sleep(pause_ms / 1000)
    left = p.flush(60)
    if left or failed:
        print("undelivered: %d, failed: %s" % (left, failed[:3]), file=sys.stderr)
        return 1
    print("produced=%d" % len(messages[first:last]))
    return 0


def main(argv):
    if len(argv) < 3 or argv[1] not in ("gen", "produce", "compare", "count"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, path = argv[1], argv[2]
    if cmd == "gen":
        with open(path, "w") as f:
            for m in build():
                f.write(json.dumps(m) + "\n")
        return 0
    with open(path) as f:
        messages = [json.loads(line) for line in f]
    if cmd == "count":
        exp = expected(messages)
        late = sum(t["late_events"] for t in exp["traffic"].values())
        print("messages=%d late=%d product_windows=%d fraud=%s stock_alerts=%s"
              % (len(messages), late, len(exp["products"]), sorted(r for _, r in exp["fraud"]), exp["alerts"]))
        return 0
    if cmd == "compare":
        return compare(messages)
    opts = {"--from": 0, "--to": len(messages), "--pause-every": 0, "--pause-ms": 0}
    rest = argv[4:]
    while rest:
        if rest[0] not in opts or len(rest) < 2:
            print("produce: bad option %s" % rest[0], file=sys.stderr)
            return 2
        opts[rest[0]] = int(rest[1])
        rest = rest[2:]
    return produce(messages, argv[3], opts["--from"], opts["--to"], opts["--pause-every"], opts["--pause-ms"])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
