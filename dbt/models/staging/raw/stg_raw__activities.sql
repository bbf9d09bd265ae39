-- One row per activity (activity ids are unique within a county system); latest batch wins.
with

source as (

    select * from {{ source('raw', 'activities') }}
    where {{ not_blocked() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by county_code, activity_id
            order by _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank
    from source

),

renamed as (

    select
        -- ids
        county_code || ':' || activity_id as activity_key,
        activity_id,
        county_code,
        library_code,

        -- strings
        activity_type,
        title,
        nullif(regexp_replace(coalesce(joint_with, ''), '[;,，；\s]+', ',', 'g'), '') as joint_with,

        -- numbers
        participants,

        -- dates
        activity_date,

        -- load metadata
        _batch_id,
        _loaded_at

    from ranked
    where delivery_rank = 1

)

select * from renamed
