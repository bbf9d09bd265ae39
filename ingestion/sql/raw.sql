-- Raw layer: canonical feeds as delivered by county systems (after dialect mapping and
-- pseudonymisation), plus load metadata. Owned by ingestion/; applied by `shuyun warehouse up`.
-- Every table carries the same metadata columns, so a reader learns them once:
--   _batch_id   the delivery (raw.ingest_batches.batch_id) the row came from
--   _source     source name from the registry (ingestion/sources), e.g. 'c532622_ils'
--   _file       delivered file name (relative to the landing folder) or API page / SQL query id
--   _line       1-based data-row number inside _file (header excluded)
--   _loaded_at  when the batch was loaded (dbt source freshness reads it)
-- Idempotent DDL: safe to run on every `warehouse up`.

create schema if not exists raw;
create schema if not exists quarantine;

-- The batch ledger: one row per delivery.
create table if not exists raw.ingest_batches (
    batch_id          text primary key,          -- sha256 of (source, feed, file name, file checksum), first 32 hex
    source            text not null,
    feed              text not null,             -- circulation | visits | holdings | monthly_report | activities | rotations | libraries | barcode_ranges
    county_code       text,                      -- GB/T 2260 six-digit county code the source belongs to
    file_name         text not null,
    file_sha256       text not null,
    archived_path     text,
    rows_read         bigint not null default 0,
    rows_loaded       bigint not null default 0,
    rows_quarantined  bigint not null default 0,
    watermark         text,                      -- incremental pulls: highest key/timestamp loaded
    status            text not null,             -- running | loaded | rejected | superseded | failed
    message           text,                      -- plain-words reason when rejected/failed
    started_at        timestamptz not null,
    finished_at       timestamptz,
    superseded_by     text,
    constraint rows_reconcile check (status not in ('loaded', 'rejected') or rows_read = rows_loaded + rows_quarantined)
);

-- Quarantine: every rejected input row with the rule it broke and where it came from.
-- `record` holds the row as parsed (reader barcodes already replaced by their pseudonym key).
create table if not exists quarantine.rejected_rows (
    _batch_id   text not null,
    _source     text not null,
    feed        text not null,
    _file       text not null,
    _line       bigint,
    rule        text not null,                   -- machine name, e.g. reader_barcode_out_of_range
    reason      text not null,                   -- plain words for the data steward
    record      jsonb,
    _loaded_at  timestamptz not null default now()
);
create index if not exists rejected_rows_batch on quarantine.rejected_rows (_batch_id);

create table if not exists raw.libraries (
    library_code        text not null,           -- 9 digits: county division code (6) + sub code (3), see docs/feeds.md
    name_zh             text not null,
    name_en             text,
    level               text not null,           -- province | prefecture | county | branch | service_point | mobile | self_service | other_system
    parent_code         text,
    division_code       text not null,           -- GB/T 2260 (6 digits) or GB/T 10114 township (9 digits)
    population_served   bigint,
    valid_from          date not null,
    valid_to            date,                    -- exclusive; null = still valid
    floor_area_m2       numeric(10, 1),
    seats               integer,
    children_seats      integer,
    networked_pcs       integer,
    weekly_open_hours   numeric(5, 1),
    staff               integer,
    periodicals         integer,
    source_system       text,
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);

create table if not exists raw.barcode_ranges (
    kind            text not null,               -- reader | item
    first_barcode   bigint not null,
    last_barcode    bigint not null,
    library_code    text not null,
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);

create table if not exists raw.circulation_events (
    source_event_id      text not null,          -- the ILS's own id (or a content hash where the dialect has none)
    county_code          text not null,
    library_code         text not null,          -- where the event happened
    event_type           text not null,          -- loan | return | renew
    event_at             timestamptz not null,   -- delivered as Asia/Shanghai local time
    item_barcode         text not null,          -- items are not personal data
    reader_key           text,                   -- HMAC-SHA256 pseudonym of the reader barcode (null for returns without reader)
    reader_home_library  text,                   -- from the reader barcode ranges, looked up before hashing
    due_date             date,
    channel              text not null,          -- desk | self_check | van
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);
create index if not exists circulation_events_batch on raw.circulation_events (_batch_id);
-- Only the _batch_id index (re-delivery deletes a batch, quality gates read one batch). No index on event_at:
-- nothing reads raw by event time (dbt staging scans the table with a window per event, quality checks
-- go by batch/county), and that index made every COPY ~45 % slower (ingestion/README.md, Measured).
drop index if exists raw.circulation_events_at;

create table if not exists raw.visitor_counts (
    county_code      text not null,
    library_code     text not null,
    gate_id          text not null,
    period_start     timestamptz not null,
    period_minutes   integer not null,
    entries          integer not null,
    exits            integer,
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);
create index if not exists visitor_counts_batch on raw.visitor_counts (_batch_id);
-- Gate counts by period: an incremental dbt run (fct_library_daily) reads only the rebuilt days' periods.
create index if not exists visitor_counts_period on raw.visitor_counts (period_start);

create table if not exists raw.holdings_items (
    county_code        text not null,
    item_barcode       text not null,
    owning_library     text not null,
    current_library    text,
    bib_id             text,
    isbn               text,
    title              text,
    clc_class          text,                     -- 中图法 class notation, e.g. I247.5
    is_children        boolean,
    acquired_on        date,
    withdrawn_on       date,
    status             text,                     -- available | on_loan | lost | withdrawn | in_transit
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);
create index if not exists holdings_items_batch on raw.holdings_items (_batch_id);
-- Items by barcode: an incremental dbt run attributes the day's events to their items' latest holdings record
-- by look-up (fct_circulation_events), instead of deduplicating the whole stock on every run.
create index if not exists holdings_items_item on raw.holdings_items (item_barcode);

-- Monthly/quarterly/annual statistics forms (service points without an ILS report by form).
-- Null means "not reported / not applicable" -- never silently 0.
create table if not exists raw.monthly_reports (
    county_code          text not null,
    library_code         text not null,
    period_type          text not null,          -- month | quarter | year
    period_start         date not null,
    visits               integer,
    registered_readers   integer,
    active_readers       integer,
    loans                integer,
    holdings             integer,
    new_volumes          integer,
    processing_volume    integer,
    activities           integer,
    participants         integer,
    opening_hours        numeric(7, 1),
    trainings            integer,
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);

create table if not exists raw.activities (
    county_code      text not null,
    activity_id      text not null,
    library_code     text not null,
    activity_date    date not null,
    activity_type    text not null,              -- lecture | exhibition | reading_promotion | training | other
    title            text,
    participants     integer,
    joint_with       text,                       -- comma-separated library codes when run jointly (联合活动)
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);

create table if not exists raw.rotations (
    county_code      text not null,
    rotation_id      text not null,
    from_library     text not null,
    to_library       text not null,
    shipped_on       date not null,
    volumes          integer not null,
    _batch_id text not null, _source text not null, _file text not null, _line bigint not null,
    _loaded_at timestamptz not null
);

-- The loader sends none of the batch's stamps, only each row's _line: the columns default to the batch's
-- values, so the server parses no per-row copy of them (they were ~40 % of a circulation row's bytes).
--   _loaded_at  now(): the start of the batch's transaction, the instant the loader records as its start;
--   _batch_id, _source, _file: the settings shuyun.batch_id / .source / .file that the loader sets for its
--   transaction only (set_config(..., true)). Unset or blank → null → the NOT NULL refuses the row, so a
--   row can never carry another batch's stamp or none.
-- (Altered only where the default is missing: ALTER takes a strong lock, and bootstrap runs on every
-- `warehouse up`.)
do $$
declare
    missing record;
begin
    for missing in
        select table_schema, table_name, column_name from information_schema.columns
        where table_schema = 'raw' and column_default is null
            and column_name in ('_loaded_at', '_batch_id', '_source', '_file')
    loop
        execute format('alter table %I.%I alter column %I set default %s',
                       missing.table_schema, missing.table_name, missing.column_name,
                       case missing.column_name
                           when '_loaded_at' then 'now()'
                           else format('nullif(current_setting(%L, true), %L)',
                                       'shuyun.' || ltrim(missing.column_name, '_'), '')
                       end);
    end loop;
end
$$;
