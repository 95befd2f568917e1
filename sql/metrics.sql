-- sql/metrics.sql - ecom-metrics' time series (issue 12): one row per
-- series (a source, a metric name and its labels, Prometheus's model), one
-- row per point, and one row per scrape of each source with its outcome,
-- so a source that was down is on record as down, with the error.
-- Points older than the collector's --retention are deleted by it.
-- Applied after init.sql; idempotent.

CREATE TABLE IF NOT EXISTS metric_series (
    series_id  bigserial PRIMARY KEY,
    source     text  NOT NULL,            -- kafka, postgres, stream, kafka-ui, spark, ...
    name       text  NOT NULL,            -- kafka_consumergroup_lag, ...
    labels     jsonb NOT NULL DEFAULT '{}',
    first_seen timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, name, labels)
);
CREATE INDEX IF NOT EXISTS metric_series_name_idx ON metric_series (name);

CREATE TABLE IF NOT EXISTS metric_points (
    series_id bigint           NOT NULL REFERENCES metric_series ON DELETE CASCADE,
    ts        timestamptz      NOT NULL,  -- the scrape's start
    value     double precision NOT NULL,  -- NaN and +-Infinity as Prometheus has them
    PRIMARY KEY (series_id, ts)
);
CREATE INDEX IF NOT EXISTS metric_points_ts_idx ON metric_points (ts);

CREATE TABLE IF NOT EXISTS metric_scrapes (
    source      text             NOT NULL,
    ts          timestamptz      NOT NULL,
    up          boolean          NOT NULL,
    duration_ms double precision NOT NULL,
    samples     integer          NOT NULL,
    error       text,                     -- why it was down, or what was partial
    PRIMARY KEY (source, ts)
);
CREATE INDEX IF NOT EXISTS metric_scrapes_ts_idx ON metric_scrapes (ts);
