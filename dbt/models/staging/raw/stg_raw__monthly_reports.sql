-- One row per library and reporting period; a corrected form (later batch) replaces the earlier one.
-- Null means "not reported / not applicable", never 0.
with

source as (

    select * from {{ source('raw', 'monthly_reports') }}
    where {{ not_blocked() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by library_code, period_type, period_start
            order by _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank
    from source

),

renamed as (

    select
        -- ids
        library_code || ':' || period_type || ':' || to_char(period_start, 'YYYY-MM-DD') as report_key,
        county_code,
        library_code,

        -- strings
        period_type,

        -- numbers
        visits,
        registered_readers,
        active_readers,
        loans,
        holdings,
        new_volumes,
        processing_volume,
        activities,
        participants,
        opening_hours,
        trainings,

        -- dates
        period_start,

        -- load metadata
        _batch_id,
        _loaded_at

    from ranked
    where delivery_rank = 1

)

select * from renamed
