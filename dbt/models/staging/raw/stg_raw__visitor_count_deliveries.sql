-- Every delivered gate-count line as it lies in raw (quality holds included, see `is_held`), without the
-- deduplication window of stg_raw__visitor_counts, so a filter on _batch_id reaches raw's index:
-- fct_library_daily finds the days of new deliveries here.
with

source as (

    select * from {{ source('raw', 'visitor_counts') }}

),

renamed as (

    select
        -- ids
        library_code,
        gate_id,

        -- dates
        (period_start at time zone '{{ var("local_time_zone") }}')::date as visit_date,

        -- timestamps
        period_start,

        -- booleans
        not ({{ not_blocked() }}) as is_held,

        -- load metadata
        _batch_id,
        _loaded_at

    from source

)

select * from renamed
