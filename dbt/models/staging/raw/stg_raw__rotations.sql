-- One row per rotation shipment (流转); latest batch wins.
with

source as (

    select * from {{ source('raw', 'rotations') }}
    where {{ not_blocked() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by county_code, rotation_id
            order by _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank
    from source

),

renamed as (

    select
        -- ids
        county_code || ':' || rotation_id as rotation_key,
        rotation_id,
        county_code,
        from_library,
        to_library,

        -- numbers
        volumes,

        -- dates
        shipped_on,

        -- load metadata
        _batch_id,
        _loaded_at

    from ranked
    where delivery_rank = 1

)

select * from renamed
