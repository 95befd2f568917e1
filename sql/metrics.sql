-- sql/metrics.sql - monitoring (issue 12): ecom-metrics' time series and
-- ecom-alerts' state and notifications.
--
-- ecom-metrics: one row per
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

-- ecom-alerts: the alerts pending or firing (rewritten after every round,
-- read back on start so a restart neither notifies again early nor forgets
-- a firing alert), and every notification (an outbox: written in the same
-- transaction as the state, then delivered to each channel and marked; a
-- restart delivers what was not).
CREATE TABLE IF NOT EXISTS alert_state (
    rule         text        NOT NULL,
    key          text        NOT NULL,   -- the instance: a group, a topic, P001/NYC, ...
    labels       jsonb       NOT NULL,
    summary      text        NOT NULL,
    value        double precision,
    state        text        NOT NULL CHECK (state IN ('pending', 'firing')),
    active_since timestamptz NOT NULL,
    fired_at     timestamptz,
    last_sent    timestamptz,
    PRIMARY KEY (rule, key)
);

CREATE TABLE IF NOT EXISTS alert_notifications (
    id                bigserial   PRIMARY KEY,
    rule              text        NOT NULL,
    key               text        NOT NULL,
    event             text        NOT NULL CHECK (event IN ('firing', 'repeat', 'resolved')),
    severity          text        NOT NULL,
    labels            jsonb       NOT NULL,   -- the rule's and the instance's
    summary           text        NOT NULL,
    value             double precision,
    active_since      timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    webhook_done      boolean     NOT NULL,   -- true when delivered, or no webhook configured
    alertmanager_done boolean     NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    last_error        text,
    delivered_at      timestamptz             -- every channel done (or given up: see last_error)
);
CREATE INDEX IF NOT EXISTS alert_notifications_undelivered ON alert_notifications (id) WHERE delivered_at IS NULL;
