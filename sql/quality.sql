-- sql/quality.sql - the tables ecom-quality (quality/) writes. Apply after
-- init.sql. Idempotent: CREATE ... IF NOT EXISTS only.
--
-- One data_quality_runs row per run of ecom-quality (the period it judged),
-- one data_quality_results row per check and table in it. The checks
-- themselves are in quality/checks.c.

BEGIN;

SET LOCAL search_path = public;

CREATE TABLE IF NOT EXISTS data_quality_runs (
    run_id       bigserial   PRIMARY KEY,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    checks       integer,
    warned       integer,
    failed       integer,
    removed      bigint,      -- rows --fix removed (near-duplicates)
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

-- status: pass when observed_value <= the warn threshold, warn up to
-- threshold (the fail threshold), fail above it or when nothing could be
-- observed (details says why). details holds the warn threshold too.
CREATE TABLE IF NOT EXISTS data_quality_results (
    run_id         bigint      NOT NULL REFERENCES data_quality_runs (run_id) ON DELETE CASCADE,
    check_name     text        NOT NULL,
    table_name     text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
    observed_value numeric,
    threshold      numeric,
    details        jsonb,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, check_name, table_name)
);
CREATE INDEX IF NOT EXISTS data_quality_results_checked_at_idx ON data_quality_results (checked_at);

COMMIT;
