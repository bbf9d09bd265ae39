-- depends_on: {{ ref('stg_raw__visitor_count_deliveries') }}, {{ ref('stg_raw__circulation_deliveries') }}, {{ ref('stg_raw__ingest_batches') }}, {{ ref('stg_quality__releases') }}
-- depends_on: {{ ref('stg_raw__libraries') }}, {{ ref('stg_raw__barcode_ranges') }}
-- Grain: one library x one day with any circulation or gate count (days without either have no row).
-- Incremental, delete+insert by date_day (days of new circulation events or new gate counts).
-- Circulation is counted from fct_circulation_events (built first, indexed by event_date).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='date_day',
    on_schema_change='fail',
    indexes=[{'columns': ['date_day']}, {'columns': ['county_code', 'date_day']}, {'columns': ['_loaded_at']}],
) }}

with

{% if is_incremental() %}
rebuild_days as (

    {{ incremental_rebuild_days(
        [[ref('stg_raw__visitor_count_deliveries'), 'visit_date', 'visits']],
        'date_day'
    ) }}

),
{% endif %}

circulation as (

    select
        library_code,
        event_date as date_day,
        count(*) filter (where event_type = 'loan') as loans,
        count(*) filter (where event_type = 'return') as returns,
        count(*) filter (where event_type = 'renew') as renewals,
        count(distinct reader_key) as distinct_readers,
        max(_loaded_at) as _loaded_at
    from {{ ref('fct_circulation_events') }}
    {% if is_incremental() %}
    where event_date = any (array(select rebuild_day from rebuild_days))
    {% endif %}
    group by library_code, event_date

),

gate_counts as (

    select
        library_code,
        visit_date as date_day,
        sum(entries) as visits,
        max(_loaded_at) as _loaded_at
    from {{ ref('stg_raw__visitor_counts') }}
    {% if is_incremental() %}
    -- the range on period_start reaches below the deduplication window (it partitions by period_start)
    -- and raw's index on period_start: only the rebuilt days' gate counts are read
    where period_start >= (select min(rebuild_day) from rebuild_days)::timestamp at time zone '{{ var("local_time_zone") }}'
        and period_start < (select max(rebuild_day) + 1 from rebuild_days)::timestamp at time zone '{{ var("local_time_zone") }}'
        and visit_date = any (array(select rebuild_day from rebuild_days))
    {% endif %}
    group by library_code, visit_date

),

library_days as (

    select
        coalesce(circulation.library_code, gate_counts.library_code) as library_code,
        coalesce(circulation.date_day, gate_counts.date_day) as date_day,
        coalesce(circulation.loans, 0) as loans,
        coalesce(circulation.returns, 0) as returns,
        coalesce(circulation.renewals, 0) as renewals,
        coalesce(gate_counts.visits, 0) as visits,
        coalesce(circulation.distinct_readers, 0) as distinct_readers,
        greatest(circulation._loaded_at, gate_counts._loaded_at) as _loaded_at
    from circulation
    full outer join gate_counts
        on gate_counts.library_code = circulation.library_code
        and gate_counts.date_day = circulation.date_day

),

library_versions as (

    select * from {{ ref('int_libraries_versioned') }}

)

select
    library_days.library_code,
    library_days.date_day,
    library_versions.library_version_key,
    coalesce(library_versions.county_code, left(library_days.library_code, 6)) as county_code,
    coalesce(library_versions.prefecture_code, left(library_days.library_code, 4) || '00') as prefecture_code,
    library_versions.level as library_level,
    library_days.loans,
    library_days.returns,
    library_days.renewals,
    library_days.visits,
    library_days.distinct_readers,
    library_days._loaded_at
from library_days
left join library_versions
    on library_versions.library_code = library_days.library_code
    and library_days.date_day >= library_versions.valid_from
    and (library_versions.valid_to is null or library_days.date_day < library_versions.valid_to)
