#!/usr/bin/python3
"""bench/py_producer.py - the Python baseline for bench/simulator.sh.

Measures how fast the original design's producer (producers/
ecommerce_simulator.py in shared/original-design.md) can go: events are
generated the way that design did (dataclasses for products and users, dicts
built with uuid4, random.choice and datetime.isoformat) and sent with
kafka-python's KafkaProducer configured exactly as the design documents it:
JSON value_serializer, str key_serializer, acks='all', retries=3,
batch_size=16384, linger_ms=10, buffer_memory=33554432,
compression_type='snappy'.

Differences from the original, on purpose: no sleeps (max rate), and one
thread choosing the stream by the design's rates (20 user events/s,
60 transactions/min, 40 inventory updates/min) instead of three threads,
which under the GIL would only add contention. Topics are the design's three
names with --topic-prefix in front, so the run does not mix with the C
simulator's data.

Run with Debian's /usr/bin/python3 (python3-kafka, python3-snappy). Prints
one JSON object on stdout: events sent, errors, seconds (from the first
send to the end of flush), value bytes (as serialized, before compression),
and the compression actually used. With --compression auto (the default) a
missing snappy codec falls back to no compression, reported as "none".
Exit status: 0 when every event was acknowledged, 1 otherwise, 2 on usage.
"""
import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from kafka import KafkaProducer


@dataclass
class Product:
    product_id: str
    name: str
    category: str
    price: float
    stock: int


@dataclass
class User:
    user_id: str
    age: int
    gender: str
    city: str
    country: str
    segment: str


PRODUCTS = [
    Product("P001", "iPhone 15 Pro", "Electronics", 999.99, 400),
    Product("P002", "Samsung Galaxy S24", "Electronics", 849.99, 520),
    Product("P003", "MacBook Air M3", "Electronics", 1299.00, 300),
    Product("P004", "Sony WH-1000XM5 Headphones", "Electronics", 399.99, 450),
    Product("P005", "Nike Air Max 270", "Footwear", 150.00, 600),
    Product("P006", "Adidas Ultraboost 23", "Footwear", 190.00, 550),
    Product("P007", "Levi's 501 Original Jeans", "Clothing", 69.50, 800),
    Product("P008", "The North Face Nuptse Jacket", "Clothing", 320.00, 350),
    Product("P009", "Instant Pot Duo 7-in-1", "Home & Kitchen", 89.99, 500),
    Product("P010", "Dyson V15 Detect Vacuum", "Home & Kitchen", 749.99, 250),
]
CITIES = [("New York", "US"), ("Los Angeles", "US"), ("Chicago", "US"),
          ("Miami", "US"), ("Toronto", "CA"), ("London", "UK")]
USERS = []
for _n in range(1, 1001):
    _city, _country = random.choice(CITIES)
    USERS.append(User("U%04d" % _n, random.randint(18, 70),
                      random.choice(["M", "F"]), _city, _country,
                      random.choice(["new", "regular", "premium"])))
SEARCHES = ["iphone", "laptop", "wireless headphones", "running shoes",
            "jeans", "winter jacket", "instant pot", "dyson"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
]
PAYMENTS = ["credit_card", "debit_card", "paypal", "apple_pay", "google_pay"]
WAREHOUSES = ["NYC", "LAX", "CHI", "MIA"]


def now_iso():
    return datetime.now(timezone.utc).isoformat()


def generate_user_event():
    user = random.choice(USERS)
    event_type = random.choice(["product_view", "product_view", "add_to_cart", "search"])
    event = {
        "event_id": str(uuid.uuid4()),
        "user_id": user.user_id,
        "event_type": event_type,
        "timestamp": now_iso(),
    }
    if event_type == "search":
        event["search_query"] = random.choice(SEARCHES)
    else:
        product = random.choice(PRODUCTS)
        event.update({"product_id": product.product_id, "product_name": product.name,
                      "category": product.category, "price": product.price})
    event.update({
        "session_id": "session_%d" % random.randint(1, 5000),
        "ip_address": "192.168.%d.%d" % (random.randint(0, 255), random.randint(1, 254)),
        "user_agent": random.choice(USER_AGENTS),
    })
    return user.user_id, event


def generate_transaction_event():
    user = random.choice(USERS)
    items = []
    for product in random.sample(PRODUCTS, random.randint(1, 3)):
        quantity = random.randint(1, 3)
        items.append({"product_id": product.product_id, "product_name": product.name,
                      "price": product.price, "quantity": quantity,
                      "item_total": round(product.price * quantity, 2)})
    subtotal = round(sum(i["item_total"] for i in items), 2)
    tax = round(subtotal * 0.08, 2)
    shipping = 0 if subtotal > 50 else 5.99
    return user.user_id, {
        "transaction_id": str(uuid.uuid4()),
        "user_id": user.user_id,
        "event_type": "purchase",
        "timestamp": now_iso(),
        "payment_method": random.choice(PAYMENTS),
        "items": items,
        "total_amount": round(subtotal + tax + shipping, 2),
        "tax_amount": tax,
        "shipping_cost": shipping,
        "shipping_address": {"street": "%d Main St" % random.randint(1, 999),
                             "city": user.city, "country": user.country},
    }


def generate_inventory_event():
    product = random.choice(PRODUCTS)
    change = random.choice([-1, -1, -2, -5, 10, 25])
    product.stock = max(0, product.stock + change)
    return product.product_id, {
        "event_id": str(uuid.uuid4()),
        "event_type": "inventory_update",
        "product_id": product.product_id,
        "product_name": product.name,
        "stock_change": change,
        "current_stock": product.stock,
        "warehouse_location": random.choice(WAREHOUSES),
        "timestamp": now_iso(),
    }


# (topic, generator, events per second) as in the original design.
STREAMS = [("user-events", generate_user_event, 20.0),
           ("transactions", generate_transaction_event, 1.0),
           ("inventory-updates", generate_inventory_event, 40.0 / 60.0)]


def make_producer(bootstrap, compression, counter):
    def value_serializer(v):
        data = json.dumps(v).encode("utf-8")
        counter[0] += len(data)
        return data

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        value_serializer=value_serializer,
        key_serializer=lambda k: k.encode("utf-8"),
        acks="all",
        retries=3,
        batch_size=16384,
        linger_ms=10,
        buffer_memory=33554432,
        compression_type=compression,
    )


def main():
    ap = argparse.ArgumentParser(description="kafka-python baseline producer for bench/simulator.sh")
    ap.add_argument("-b", "--bootstrap", required=True, help="bootstrap servers")
    ap.add_argument("-n", "--events", type=int, default=50000, help="events to send (default: 50000)")
    ap.add_argument("--topic-prefix", default="bench-py-", help="prefix of the three topic names (default: bench-py-)")
    ap.add_argument("--compression", choices=["auto", "snappy", "none"], default="auto",
                    help="auto: snappy, else none if the codec is missing (default: auto)")
    args = ap.parse_args()
    if args.events < 1:
        ap.error("invalid value \"%d\" for option -n/--events" % args.events)

    counter = [0]
    errors = [0]
    compression = "snappy" if args.compression != "none" else None
    try:
        producer = make_producer(args.bootstrap, compression, counter)
    except AssertionError as e:  # kafka-python asserts the codec is importable
        if args.compression != "auto":
            raise
        print("py_producer: snappy unavailable (%s), falling back to no compression" % e, file=sys.stderr)
        compression = None
        producer = make_producer(args.bootstrap, compression, counter)

    def on_error(exc):
        errors[0] += 1
        if errors[0] <= 5:
            print("py_producer: delivery failed: %s" % exc, file=sys.stderr)

    topics = [args.topic_prefix + s[0] for s in STREAMS]
    due = [0.0] * len(STREAMS)
    start = time.monotonic()
    for _ in range(args.events):
        s = min(range(len(STREAMS)), key=due.__getitem__)
        due[s] += 1.0 / STREAMS[s][2]
        key, event = STREAMS[s][1]()
        producer.send(topics[s], key=key, value=event).add_errback(on_error)
    producer.flush()
    seconds = time.monotonic() - start
    producer.close()
    json.dump({"events": args.events, "errors": errors[0], "seconds": round(seconds, 3),
               "bytes": counter[0], "compression": compression or "none"}, sys.stdout)
    print()
    return 0 if errors[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
