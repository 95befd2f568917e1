-- sql/scheduler.sql - ecom-scheduler's history and coordination (issue 11),
-- named as Airflow names them: dag_runs and task_instances, plus each try
-- of a task (task_tries, Airflow's task_instance_history and logs) and the
-- schedulers themselves (scheduler_jobs, Airflow's job table).
--
-- Coordination between schedulers sharing the database: every scheduling
-- decision for a DAG is made in a transaction holding its scheduler_dags
-- row (SELECT ... FOR UPDATE SKIP LOCKED), so two schedulers never decide
-- for the same DAG at once, and a task instance is claimed by writing its
-- scheduler_id in that transaction. A scheduler whose heartbeat stopped
-- (or whose process is gone, on the same host) loses its claims: its
-- queued and running task instances are zombies, retried or failed.
-- Applied after init.sql; idempotent.

-- Epoch milliseconds, the scheduler's unit, to and from timestamptz, exactly.
CREATE OR REPLACE FUNCTION ecom_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (extract(epoch FROM t) * 1000)::bigint $$;
CREATE OR REPLACE FUNCTION ecom_ts(ms bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT timestamptz 'epoch' + ms * interval '1 millisecond' $$;

CREATE TABLE IF NOT EXISTS scheduler_jobs (
    id            bigserial PRIMARY KEY,
    hostname      text        NOT NULL,
    pid           integer     NOT NULL,
    proc_start    bigint,                 -- /proc/PID/stat starttime: tells a reused pid apart
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz             -- set on a clean exit
);

CREATE TABLE IF NOT EXISTS scheduler_dags (
    dag_id        text PRIMARY KEY,
    schedule      text,
    last_scheduled timestamptz,           -- the newest scheduled run's logical date (Airflow's next_dagrun cursor)
    seen_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS dag_runs (
    dag_id              text        NOT NULL,
    run_id              text        NOT NULL,
    logical_date        timestamptz NOT NULL,
    data_interval_start timestamptz NOT NULL,
    data_interval_end   timestamptz NOT NULL,
    run_type            text        NOT NULL CHECK (run_type IN ('scheduled', 'manual', 'backfill')),
    state               text        NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed')),
    conf                jsonb       NOT NULL DEFAULT '{}',
    queued_at           timestamptz NOT NULL DEFAULT now(),
    start_date          timestamptz,
    end_date            timestamptz,
    PRIMARY KEY (dag_id, run_id),
    UNIQUE (dag_id, logical_date)
);
CREATE INDEX IF NOT EXISTS dag_runs_active ON dag_runs (dag_id, logical_date)
    WHERE state IN ('queued', 'running');

CREATE TABLE IF NOT EXISTS task_instances (
    dag_id        text     NOT NULL,
    run_id        text     NOT NULL,
    task_id       text     NOT NULL,
    state         text     NOT NULL DEFAULT 'none' CHECK (state IN ('none', 'scheduled', 'queued',
                  'running', 'success', 'failed', 'up_for_retry', 'upstream_failed', 'skipped')),
    try_number    integer  NOT NULL DEFAULT 0,   -- tries started
    max_tries     integer  NOT NULL DEFAULT 1,   -- retries + 1 (tasks clear raises it)
    next_try_at   timestamptz,                   -- up_for_retry: not before
    scheduler_id  bigint REFERENCES scheduler_jobs (id),  -- the claim, while queued or running
    hostname      text,
    pid           integer,                       -- the task's process group (its leader)
    proc_start    bigint,
    start_date    timestamptz,
    end_date      timestamptz,
    duration_ms   bigint,
    PRIMARY KEY (dag_id, run_id, task_id),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_runs (dag_id, run_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS task_instances_claimed ON task_instances (scheduler_id)
    WHERE state IN ('queued', 'running');

CREATE TABLE IF NOT EXISTS task_tries (
    dag_id         text     NOT NULL,
    run_id         text     NOT NULL,
    task_id        text     NOT NULL,
    try_number     integer  NOT NULL,
    scheduler_id   bigint REFERENCES scheduler_jobs (id),
    hostname       text,
    pid            integer,
    command        text     NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    outcome        text CHECK (outcome IN ('success', 'failed', 'timeout', 'zombie', 'handed_back')),
    exit_status    integer,
    term_signal    integer,
    duration_ms    bigint,
    output         text,              -- the last bytes of stdout and stderr together
    output_dropped bigint NOT NULL DEFAULT 0,  -- bytes before them, not kept
    PRIMARY KEY (dag_id, run_id, task_id, try_number),
    FOREIGN KEY (dag_id, run_id, task_id) REFERENCES task_instances (dag_id, run_id, task_id)
        ON DELETE CASCADE
);
