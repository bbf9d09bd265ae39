-- Results of the quality gates (quality/). Owned by shuyun_transformer; applied by the gate itself
-- (idempotent) before it writes, so a fresh warehouse needs no extra step.

-- Every expectation result of every gate run: one row per check per validated delivery or county.
create table if not exists quality.validation_results (
    run_id            text not null,           -- one gate run (quality.run_gate call)
    validated_at      timestamptz not null,
    layer             text not null,           -- raw | staging | marts
    suite             text not null,           -- GX suite, e.g. raw__circulation_events
    county_code       text,                    -- the county the result is attributed to
    feed              text,                    -- raw: feed of the delivery; staging/marts: the table
    batch_id          text,                    -- raw: the delivery (raw.ingest_batches.batch_id)
    file_name         text,                    -- raw: the delivered file
    expectation       text not null,           -- check name (quality/checks.py)
    expectation_type  text not null,           -- GX expectation type
    severity          text not null,           -- warn | block
    success           boolean not null,
    observed_value    text,
    unexpected_count  bigint,
    message           text not null            -- plain words: county, library, file, rule
);
create index if not exists validation_results_batch on quality.validation_results (batch_id);
create index if not exists validation_results_county on quality.validation_results (county_code, validated_at);
create index if not exists validation_results_run on quality.validation_results (run_id);

-- Deliveries held back by a failed `block` check. dbt staging excludes every row whose _batch_id is here:
--   where not exists (select 1 from quality.blocked_batches q where q.batch_id = <raw>._batch_id)
-- Re-running the gate on a delivery replaces its rows (a fixed delivery is released by passing the gate).
-- Staging/marts failures that cannot be tied to a delivery hold the county: batch_id = '<layer>:<county_code>'.
create table if not exists quality.blocked_batches (
    batch_id      text not null,
    county_code   text not null,
    feed          text not null,
    reason        text not null,               -- plain words: which rules failed, where
    layer         text not null,
    run_id        text not null,
    blocked_at    timestamptz not null default now(),
    primary key (batch_id, layer)
);
create index if not exists blocked_batches_county on quality.blocked_batches (county_code);
