-- One row per library version. A registry re-delivery repeats versions: the latest batch wins.
with

source as (

    select * from {{ source('raw', 'libraries') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by library_code, valid_from
            order by _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank
    from source

),

renamed as (

    select
        -- ids
        library_code || '@' || to_char(valid_from, 'YYYY-MM-DD') as library_version_key,
        library_code,
        nullif(trim(parent_code), '') as parent_code,
        division_code,

        -- strings
        name_zh,
        name_en,
        level,
        source_system,

        -- numbers
        population_served,
        floor_area_m2,
        seats,
        children_seats,
        networked_pcs,
        weekly_open_hours,
        staff,
        periodicals,

        -- dates
        valid_from,
        valid_to,

        -- load metadata
        _batch_id,
        _loaded_at

    from ranked
    where delivery_rank = 1

)

select * from renamed
