-- One row per gate and counting period; a re-delivered period keeps the latest batch.
with

source as (

    select * from {{ source('raw', 'visitor_counts') }}
    where {{ not_blocked() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by library_code, gate_id, period_start
            order by _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank
    from source

),

renamed as (

    select
        -- ids
        library_code || ':' || gate_id || ':' || to_char(period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')
            as visitor_count_key,
        county_code,
        library_code,
        gate_id,

        -- numbers
        period_minutes,
        entries,
        exits,

        -- dates
        (period_start at time zone '{{ var("local_time_zone") }}')::date as visit_date,

        -- timestamps
        period_start,

        -- load metadata
        _batch_id,
        _loaded_at

    from ranked
    where delivery_rank = 1

)

select * from renamed
