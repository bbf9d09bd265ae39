-- depends_on: {{ ref('stg_raw__circulation_deliveries') }}, {{ ref('stg_raw__ingest_batches') }}, {{ ref('stg_quality__releases') }}
-- depends_on: {{ ref('stg_raw__libraries') }}, {{ ref('stg_raw__barcode_ranges') }}
-- depends_on: {{ ref('fct_circulation_events') }}
-- Grain: one loan, with its renewals and its return (wherever it was returned).
-- Incremental, delete+insert by loan_id. A run re-pairs only the items touched on the days it re-opens
-- (incremental_rebuild_days, from this fact's watermark): each such item's events from its last loan
-- before its first event on those days onwards (fct_circulation_events, index on item_barcode, event_at).
-- That re-pairs every loan a new event can open, close or extend, old open loans included, and gives
-- the rows a full pairing would (macros/pair_loans.sql: a loan depends only on events from it on).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='loan_id',
    on_schema_change='fail',
    indexes=[
        {'columns': ['loan_date']},
        {'columns': ['county_code', 'loan_date']},
        {'columns': ['item_barcode']},
        {'columns': ['_loaded_at']},
    ],
) }}

with

{% if is_incremental() %}
rebuild_days as (

    {{ incremental_rebuild_days([], 'loan_date') }}

),

touched_items as (

    select item_barcode, min(event_at) as first_touched_at
    from {{ ref('fct_circulation_events') }}
    where event_date = any (array(select rebuild_day from rebuild_days))
    group by item_barcode

),

item_events as (

    -- per touched item: its events from its last loan before the touched days on (all, without one)
    select item_event.*
    from touched_items
    left join lateral (
        select max(earlier.event_at) as loan_at
        from {{ ref('fct_circulation_events') }} as earlier
        where earlier.item_barcode = touched_items.item_barcode
            and earlier.event_at < touched_items.first_touched_at
            and earlier.event_type = 'loan'
    ) as last_loan on true
    cross join lateral (
        select *
        from {{ ref('fct_circulation_events') }} as item_event
        where item_event.item_barcode = touched_items.item_barcode
            and item_event.event_at >= coalesce(last_loan.loan_at, '-infinity'::timestamptz)
        offset 0  -- keeps the look-up per item (index on item_barcode, event_at), never a scan of the fact
    ) as item_event

),

paired_again as (

    {{ pair_loans('item_events') }}

),

loans as (

    -- only the loans whose row changed are written again (most re-paired loans come out as they were).
    -- The lateral look-up (offset 0) keeps it one primary-key probe per re-paired loan: as a plain
    -- `not exists` PostgreSQL mis-estimates the re-paired loans and hashes the whole fact (a scan that
    -- grows with the history).
    select paired_again.*
    from paired_again
    left join lateral (
        select
            existing.loan_at, existing.loan_date, existing.library_code, existing.county_code,
            existing.prefecture_code, existing.item_barcode, existing.reader_key, existing.due_date,
            existing.renewals, existing.returned_at, existing.return_library_code, existing.loan_days,
            existing.overdue_days, existing.is_returned_elsewhere, existing._loaded_at
        from {{ this }} as existing
        where existing.loan_id = paired_again.loan_id
        offset 0
    ) as existing on true
    where (existing.loan_at, existing.loan_date, existing.library_code, existing.county_code,
           existing.prefecture_code, existing.item_barcode, existing.reader_key, existing.due_date,
           existing.renewals, existing.returned_at, existing.return_library_code, existing.loan_days,
           existing.overdue_days, existing.is_returned_elsewhere, existing._loaded_at)
        is distinct from
          (paired_again.loan_at, paired_again.loan_date, paired_again.library_code, paired_again.county_code,
           paired_again.prefecture_code, paired_again.item_barcode, paired_again.reader_key,
           paired_again.due_date, paired_again.renewals, paired_again.returned_at,
           paired_again.return_library_code, paired_again.loan_days, paired_again.overdue_days,
           paired_again.is_returned_elsewhere, paired_again._loaded_at)

)
{% else %}
loans as (

    select * from {{ ref('int_loans_paired') }}

)
{% endif %}

select
    loan_id,
    loan_at,
    loan_date,
    library_code,
    county_code,
    prefecture_code,
    item_barcode,
    reader_key,
    due_date,
    renewals,
    returned_at,
    return_library_code,
    loan_days,
    overdue_days,
    is_returned_elsewhere,
    _loaded_at
from loans
