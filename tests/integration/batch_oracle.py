#!/usr/bin/python3
"""tests/integration/batch_oracle.py - the corpus of test_batch.sh and what
ecom-batch must compute from it, worked out here in Python from the corpus
itself (not from the jobs' SQL).

  batch_oracle.py corpus DIR   writes DIR/{user_events,transactions,
                               transaction_items,inventory_updates}.csv
                               (COPY csv, no header) from a fixed seed
  batch_oracle.py expect DIR   writes DIR/expect.<job> for every job, in the
                               form the test's queries print (psql -A -t,
                               '|' between columns, TimeZone UTC), sorted

Corpus: 2026-09-14 (early purchases: the September cohort), and
2026-10-30 (Friday) to 2026-11-02 (Monday), which crosses a month and an
ISO week (W44 ends Sunday 1 November). 30 users, 10 more each day, the catalog's 10 products
plus P999, which the catalog lacks ("Unknown"), the 4 warehouses.
"""
import csv
import datetime as dt
import os
import random
import sys
import uuid
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

UTC = dt.timezone.utc
CATEGORY = {"P001": "Electronics", "P002": "Electronics", "P003": "Electronics",
            "P004": "Electronics", "P005": "Footwear", "P006": "Footwear",
            "P007": "Clothing", "P008": "Clothing", "P009": "Home & Kitchen",
            "P010": "Home & Kitchen"}
PRODUCTS = sorted(CATEGORY) + ["P999"]
WAREHOUSES = ["NYC", "LAX", "CHI", "MIA"]
DAYS = [dt.datetime(2026, 9, 14, tzinfo=UTC)] + [
    dt.datetime(2026, 10, 30, tzinfo=UTC) + dt.timedelta(days=i) for i in range(4)]


def ts(t):
    return t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d+00" % (t.microsecond // 1000)


def corpus():
    rng = random.Random(20261202)
    ev, tx, items, inv = [], [], [], []
    for di, day in enumerate(DAYS):
        early = day.month == 9
        users = 30 + 10 * di  # new users every day
        for _ in range(40 if early else 700):
            t = day + dt.timedelta(milliseconds=rng.randrange(86400000))
            u = "U%04d" % rng.randint(1, users)
            kind = rng.choice(["product_view"] * 6 + ["add_to_cart"] * 2 + ["search"])
            p = rng.choice(PRODUCTS)
            ev.append(dict(event_id=str(uuid.UUID(int=rng.getrandbits(128))), user_id=u,
                           event_type=kind, event_time=t,
                           product_id=p if kind != "search" else None,
                           price="%.2f" % rng.uniform(5, 900) if kind != "search" else None,
                           search_query="shoes" if kind == "search" else None,
                           session_id="S%s-%d" % (u, t.hour // 6)))
        for _ in range(25 if early else 90):
            t = day + dt.timedelta(milliseconds=rng.randrange(86400000))
            tid = str(uuid.UUID(int=rng.getrandbits(128)))
            u = "U%04d" % rng.randint(1, users)
            total = Decimal(0)
            lines = []
            for n in range(1, rng.randint(1, 3) + 1):
                p = rng.choice(PRODUCTS)
                price = Decimal("%.2f" % rng.uniform(5, 900))
                q = rng.randint(1, 3)
                lines.append(dict(transaction_id=tid, line_no=n, event_time=t, product_id=p,
                                  price=price, quantity=q, item_total=price * q))
                total += price * q
            tx.append(dict(transaction_id=tid, user_id=u, event_time=t, total_amount=total))
            items.extend(lines)
        for _ in range(12 if early else 120):
            t = day + dt.timedelta(milliseconds=rng.randrange(86400000))
            inv.append(dict(event_id=str(uuid.UUID(int=rng.getrandbits(128))),
                            product_id=rng.choice(PRODUCTS[:10]), warehouse=rng.choice(WAREHOUSES),
                            event_time=t, current_stock=rng.choice([0] + list(range(5, 300))),
                            stock_change=rng.randint(-40, 60)))
    return ev, tx, items, inv


def write_corpus(d):
    ev, tx, items, inv = corpus()
    with open(os.path.join(d, "user_events.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for e in ev:
            w.writerow([e["event_id"], e["user_id"], e["event_type"], ts(e["event_time"]),
                        e["product_id"], e["price"], e["search_query"], e["session_id"]])
    with open(os.path.join(d, "transactions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for t in tx:
            w.writerow([t["transaction_id"], t["user_id"], ts(t["event_time"]),
                        t["total_amount"], "t"])
    with open(os.path.join(d, "transaction_items.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for i in items:
            w.writerow([i["transaction_id"], i["line_no"], ts(i["event_time"]), i["product_id"],
                        i["price"], i["quantity"], i["item_total"]])
    with open(os.path.join(d, "inventory_updates.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for u in inv:
            w.writerow([u["event_id"], u["product_id"], u["stock_change"], u["current_stock"],
                        u["warehouse"], ts(u["event_time"])])


def frac_str(f, places):
    """PostgreSQL's round(numeric, places) of an exact value: half away from zero."""
    scale = 10 ** places
    n = f * scale
    sign = -1 if n < 0 else 1
    n = abs(n)
    i = n.numerator // n.denominator
    if n - i >= Fraction(1, 2):
        i += 1
    s = str(i).rjust(places + 1, "0")
    out = s[:-places] + "." + s[-places:] if places else s
    return ("-" if sign < 0 and i else "") + out


def hourly_sales(tx, items):
    by_tx = {t["transaction_id"]: t for t in tx}
    cells = defaultdict(lambda: [set(), 0, Decimal(0), set()])
    for i in items:
        t = by_tx[i["transaction_id"]]
        h = t["event_time"].replace(minute=0, second=0, microsecond=0)
        c = cells[(h, CATEGORY.get(i["product_id"], "Unknown"))]
        c[0].add(t["transaction_id"])
        c[1] += i["quantity"]
        c[2] += i["item_total"]
        c[3].add(t["user_id"])
    out = []
    for (h, cat), (orders, units, rev, buyers) in cells.items():
        out.append("|".join([ts(h)[:19] + "+00", cat, str(len(orders)), str(units), str(rev),
                             frac_str(Fraction(rev) / len(orders), 2), str(len(buyers))]))
    return out


def daily_engagement(ev, tx):
    first = {}
    for r in ev + tx:
        u, t = r["user_id"], r["event_time"]
        if u not in first or t < first[u]:
            first[u] = t
    out = []
    for day in sorted({r["event_time"].date() for r in ev + tx}):
        e = [r for r in ev if r["event_time"].date() == day]
        t = [r for r in tx if r["event_time"].date() == day]
        active = {r["user_id"] for r in e + t}
        new = {u for u in active if first[u].date() == day}
        sessions = len({r["session_id"] for r in e})
        views = sum(r["event_type"] == "product_view" for r in e)
        carts = sum(r["event_type"] == "add_to_cart" for r in e)
        searches = sum(r["event_type"] == "search" for r in e)
        out.append("|".join(str(x) for x in [
            day.isoformat(), len(active), len(new), len(active) - len(new), sessions, len(e),
            frac_str(Fraction(len(e), sessions), 2) if sessions else "",
            views, carts, searches, len(t),
            frac_str(Fraction(carts, views), 4) if views else "",
            frac_str(Fraction(len(t), carts), 4) if carts else ""]))
    return out


def weekly_turnover(inv, week_start):
    lo = week_start
    hi = lo + dt.timedelta(days=7)
    pairs = {(p, w) for p in PRODUCTS[:10] for w in WAREHOUSES}
    out = []
    for p, w in sorted(pairs):
        mine = sorted((u for u in inv if u["product_id"] == p and u["warehouse"] == w),
                      key=lambda u: (u["event_time"], u["event_id"]))
        before = [u for u in mine if u["event_time"] < lo]
        within = [u for u in mine if lo <= u["event_time"] < hi]
        pts = ([(lo, before[-1]["current_stock"])] if before else []) + \
              [(u["event_time"], u["current_stock"]) for u in within]
        if not pts:
            continue
        stock_secs, secs = Fraction(0), Fraction(0)
        for k, (t, level) in enumerate(pts):
            end = pts[k + 1][0] if k + 1 < len(pts) else hi
            d = Fraction(int((end - t) / dt.timedelta(microseconds=1)), 10 ** 6)
            stock_secs += level * d
            secs += d
        units = sum(-u["stock_change"] for u in within if u["stock_change"] < 0)
        outs = sum(u["current_stock"] <= 0 for u in within)
        avg = stock_secs / secs if secs else None
        turnover = frac_str(units / avg, 4) if avg else ""
        cover = frac_str(avg / (units / (secs / 86400)), 2) if avg is not None and units and secs else ""
        out.append("|".join(str(x) for x in [
            lo.date().isoformat(), p, w, len(within), units,
            frac_str(avg if avg is not None else Fraction(0), 2), turnover, cover, outs]))
    return out


def monthly_cohorts(tx, month):
    lo = month
    hi = (lo + dt.timedelta(days=32)).replace(day=1)
    first = {}
    for t in tx:
        if t["event_time"] < hi and (t["user_id"] not in first or t["event_time"] < first[t["user_id"]]):
            first[t["user_id"]] = t["event_time"]
    cohort = {u: f.replace(day=1, hour=0, minute=0, second=0, microsecond=0) for u, f in first.items()}
    size = defaultdict(int)
    for c in cohort.values():
        size[c] += 1
    buyers = defaultdict(Decimal)
    for t in tx:
        if lo <= t["event_time"] < hi:
            buyers[t["user_id"]] += t["total_amount"]
    cells = defaultdict(lambda: [0, Decimal(0)])
    for u, rev in buyers.items():
        cells[cohort[u]][0] += 1
        cells[cohort[u]][1] += rev
    out = []
    for c, (n, rev) in cells.items():
        since = (lo.year - c.year) * 12 + lo.month - c.month
        out.append("|".join(str(x) for x in [
            c.date().isoformat(), since, lo.date().isoformat(), size[c], n,
            frac_str(Fraction(n, size[c]), 4), rev]))
    return out


def write_expect(d):
    ev, tx, items, inv = corpus()
    nov1 = dt.datetime(2026, 11, 1, tzinfo=UTC)
    day_tx = [t for t in tx if t["event_time"].date() == nov1.date()]
    day_items = [i for i in items if i["event_time"].date() == nov1.date()]
    expect = {
        "hourly-sales": hourly_sales(day_tx, day_items),
        "daily-engagement": [r for r in daily_engagement(ev, tx)
                             if r.split("|")[0] in ("2026-10-31", "2026-11-01")],
        "weekly-inventory-turnover": weekly_turnover(inv, dt.datetime(2026, 10, 26, tzinfo=UTC)) +
                                     weekly_turnover(inv, dt.datetime(2026, 11, 2, tzinfo=UTC)),
        "monthly-cohorts": monthly_cohorts(tx, dt.datetime(2026, 10, 1, tzinfo=UTC)) +
                           monthly_cohorts(tx, dt.datetime(2026, 11, 1, tzinfo=UTC)),
    }
    for job, rows in expect.items():
        with open(os.path.join(d, "expect." + job), "w") as f:
            f.write("".join(r + "\n" for r in sorted(rows)))


if __name__ == "__main__":
    {"corpus": write_corpus, "expect": write_expect}[sys.argv[1]](sys.argv[2])
