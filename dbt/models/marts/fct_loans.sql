-- depends_on: {{ ref('stg_raw__circulation_events') }}, {{ ref('stg_raw__libraries') }}, {{ ref('stg_raw__barcode_ranges') }}
-- Grain: one loan, with its renewals and its return (wherever it was returned).
-- Incremental, delete+insert by loan_date. Besides the days of incremental_rebuild_days, a run
-- re-opens the loan days of loans a new event may close or re-pair: loans of items with new
-- events that were still open, or were returned at/after the item's earliest new event.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='loan_date',
    on_schema_change='fail',
    indexes=[
        {'columns': ['loan_date']},
        {'columns': ['county_code', 'loan_date']},
        {'columns': ['item_barcode']},
    ],
) }}

with

{% if is_incremental() %}
new_item_events as (

    select item_barcode, min(event_at) as first_new_event_at
    from {{ ref('stg_raw__circulation_events') }}
    where _loaded_at > (select coalesce(max(_loaded_at), '-infinity'::timestamptz) from {{ this }})
    group by item_barcode

),

rebuild_days as (

    {{ incremental_rebuild_days([[ref('stg_raw__circulation_events'), 'event_date']], 'loan_date') }}
    union
    select distinct existing.loan_date
    from {{ this }} as existing
    inner join new_item_events on new_item_events.item_barcode = existing.item_barcode
    where existing.returned_at is null or existing.returned_at >= new_item_events.first_new_event_at

),
{% endif %}

loans as (

    select * from {{ ref('int_loans_paired') }}
    {% if is_incremental() %}
    where loan_date in (select rebuild_day from rebuild_days)
    {% endif %}

)

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
