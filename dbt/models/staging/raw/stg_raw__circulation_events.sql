-- One row per circulation event: duplicated deliveries removed, the latest batch kept.
with

delivered as (

    select * from {{ ref('stg_raw__circulation_event_rows') }}

),

deduplicated as (

    select
        -- ids
        event_id,
        source_event_id,
        county_code,
        library_code,
        item_barcode,
        reader_key,
        reader_home_library,

        -- strings
        event_type,
        channel,

        -- dates
        due_date,
        event_date,

        -- timestamps
        event_at,

        -- load metadata
        _batch_id,
        _source,
        _loaded_at

    from delivered
    where delivery_rank = 1

)

select * from deduplicated
