-- depends_on: {{ ref('stg_raw__circulation_deliveries') }}, {{ ref('stg_raw__ingest_batches') }}, {{ ref('stg_quality__releases') }}
-- depends_on: {{ ref('stg_raw__libraries') }}, {{ ref('stg_raw__barcode_ranges') }}
-- depends_on: {{ ref('int_libraries_versioned') }}, {{ ref('int_barcode_ranges_indexed') }}, {{ ref('stg_raw__holdings_items') }}
-- Grain: one loan / return / renewal event (duplicated deliveries removed).
-- Incremental, delete+insert by event_date: see macros/incremental_days.sql for the days rebuilt.
-- A full refresh reads int_circulation_events_attributed (all of raw). An incremental run reads raw
-- through its _batch_id index only: the lines of the rebuilt days from the batches already kept on
-- those days plus the batches it has not seen; it deduplicates and attributes them with the macros the
-- full path uses. So it costs the days it rebuilds, not the history.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_date',
    unchanged_rows_key='event_id',
    on_schema_change='fail',
    indexes=[
        {'columns': ['event_date']},
        {'columns': ['county_code', 'event_date']},
        {'columns': ['item_barcode', 'event_at']},
        {'columns': ['_loaded_at']},
    ],
) }}

with

{% if is_incremental() %}
watermark as (

    select coalesce(max(_loaded_at), '-infinity'::timestamptz) as loaded_at from {{ this }}

),

new_lines as (

    {{ new_circulation_lines('(select loaded_at from watermark)') }}

),

rebuild_days as (

    {{ incremental_rebuild_days([], 'event_date') }}
    union
    -- an event delivered again with another date leaves its old day (the latest delivery wins)
    select existing.event_date
    from {{ this }} as existing
    where existing.event_id = any (array(select event_id from new_lines))

),

delivered as (

    -- a day's lines: the batches whose events the day keeps (a batch whose every line lost to a later
    -- delivery is not needed to deduplicate) and the batches not seen yet
    select *
    from {{ ref('stg_raw__circulation_deliveries') }}
    where _batch_id = any (array(
            select kept._batch_id from {{ this }} as kept
            where kept.event_date = any (array(select rebuild_day from rebuild_days))
            union
            select new_lines._batch_id from new_lines
        ))
        and event_date = any (array(select rebuild_day from rebuild_days))
        and not is_held

),

deduplicated as (

    select *
    from (select *, {{ delivery_rank() }} as delivery_rank from delivered) as ranked
    where delivery_rank = 1
        -- a later delivery of the same event kept on a day not rebuilt now stays there
        and not exists (
            select 1 from {{ this }} as kept
            where kept.event_id = ranked.event_id
                and kept.event_date not in (select rebuild_day from rebuild_days)
                and (kept._loaded_at, kept._batch_id) > (ranked._loaded_at, ranked._batch_id)
        )

),

events as (

    {{ attribute_circulation_events('deduplicated', holdings_by_item=true) }}

)
{% else %}
events as (

    select * from {{ ref('int_circulation_events_attributed') }}

)
{% endif %}

select
    event_id,
    event_type,
    event_at,
    event_date,
    library_code,
    library_version_key,
    library_level,
    county_code,
    prefecture_code,
    item_barcode,
    item_home_library,
    reader_key,
    reader_home_library,
    channel,
    is_cross_library_item,
    is_cross_library_reader,
    clc_top_class,
    is_children_item,
    due_date,
    _batch_id,
    _loaded_at
from events
