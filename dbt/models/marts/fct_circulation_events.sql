-- depends_on: {{ ref('stg_raw__circulation_events') }}, {{ ref('stg_raw__libraries') }}, {{ ref('stg_raw__barcode_ranges') }}
-- Grain: one loan / return / renewal event (duplicated deliveries removed).
-- Incremental, delete+insert by event_date: see macros/incremental_days.sql for the days rebuilt.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_date',
    on_schema_change='fail',
    indexes=[
        {'columns': ['event_date']},
        {'columns': ['county_code', 'event_date']},
        {'columns': ['item_barcode']},
    ],
) }}

with

events as (

    select * from {{ ref('int_circulation_events_attributed') }}
    {% if is_incremental() %}
    where event_date in ({{ incremental_rebuild_days([[ref('stg_raw__circulation_events'), 'event_date']], 'event_date') }})
    {% endif %}

)

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
