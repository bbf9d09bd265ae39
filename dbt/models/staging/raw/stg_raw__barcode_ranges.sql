-- One row per barcode range; a re-delivered range (same kind and first barcode) keeps the latest batch.
with

source as (

    select * from {{ source('raw', 'barcode_ranges') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by kind, first_barcode
            order by _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank
    from source

),

renamed as (

    select
        -- ids
        kind || ':' || first_barcode::text as barcode_range_key,
        library_code,

        -- strings
        kind,

        -- numbers
        first_barcode,
        last_barcode,

        -- load metadata
        _batch_id,
        _loaded_at

    from ranked
    where delivery_rank = 1

)

select * from renamed
