"""tests/integration/spark_count.py - the Spark smoke job of test_spark_local.sh.

Counts the lines of a text file and, with --kafka, the messages of one Kafka
topic through the Kafka connector (spark-sql-kafka-0-10: a batch read from
the earliest to the latest offsets). Run it with scripts/spark-local.sh
submit, which points it at the local master and puts the connector on the
driver's and the executors' class path.

Usage:
  spark_count.py [--name APP] [--file PATH] [--kafka BOOTSTRAP TOPIC]
                 [--kafka-timeout-ms MS]

Prints on stdout, one per line:
  kafka_columns=key,value,...   the Kafka source's columns (proves the
                                connector loads; no broker is contacted)
  count=N                       lines of --file
  kafka_count=N                 messages of TOPIC, or
  kafka_error=MESSAGE           why counting them failed (the innermost
                                Java exception, on one line)
Exit status 0 unless Spark itself failed; 2 on bad arguments.
"""

import argparse
import sys

from pyspark.sql import SparkSession


def kafka_reader(spark, bootstrap, topic, timeout_ms):
    reader = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
    )
    if timeout_ms:
        # Fail in seconds instead of minutes when the broker cannot serve
        # Kafka's Java client.
        reader = (
            reader.option("kafka.default.api.timeout.ms", str(timeout_ms))
            .option("kafka.request.timeout.ms", str(max(1000, timeout_ms // 2)))
            .option("fetchOffset.numRetries", "1")
            .option("fetchOffset.retryIntervalMs", "100")
        )
    return reader


def innermost_error(exc):
    """The last "Caused by" of a Py4J error (or the error), on one line."""
    text = str(exc)
    causes = [
        line.strip()[len("Caused by: "):]
        for line in text.splitlines()
        if line.strip().startswith("Caused by: ")
    ]
    if causes:
        return causes[-1]
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith("at ")]
    return lines[-1] if lines else type(exc).__name__


def main(argv):
    ap = argparse.ArgumentParser(prog="spark_count.py")
    ap.add_argument("--name", default="ecom-spark-smoke")
    ap.add_argument("--file")
    ap.add_argument("--kafka", nargs=2, metavar=("BOOTSTRAP", "TOPIC"))
    ap.add_argument("--kafka-timeout-ms", type=int, default=0)
    args = ap.parse_args(argv[1:])
    if not args.file and not args.kafka:
        ap.error("give --file, --kafka or both")

    spark = SparkSession.builder.appName(args.name).getOrCreate()
    try:
        # Loading the source resolves the connector; it reads nothing yet.
        columns = kafka_reader(spark, "127.0.0.1:9", "none", 0).load().columns
        print("kafka_columns=" + ",".join(columns), flush=True)
        if args.file:
            print("count=%d" % spark.read.text(args.file).count(), flush=True)
        if args.kafka:
            df = kafka_reader(spark, args.kafka[0], args.kafka[1], args.kafka_timeout_ms).load()
            try:
                print("kafka_count=%d" % df.count(), flush=True)
            except Exception as exc:  # a Py4JJavaError from the connector
                print("kafka_error=" + innermost_error(exc), flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
