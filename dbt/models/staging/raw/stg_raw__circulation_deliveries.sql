-- Every delivered circulation line, typed, as it lies in raw (quality holds included, see `is_held`).
-- No window function here, so a filter on _batch_id or event_date reaches raw's _batch_id index:
-- the incremental facts read only the batches of the days they rebuild.
-- stg_raw__circulation_event_rows ranks these lines; stg_raw__circulation_events keeps rank 1.
with

source as (

    select * from {{ source('raw', 'circulation_events') }}

),

renamed as (

    select
        -- ids
        _source || ':' || source_event_id as event_id,
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
        (event_at at time zone '{{ var("local_time_zone") }}')::date as event_date,

        -- timestamps
        event_at,

        -- booleans
        not ({{ not_blocked() }}) as is_held,

        -- load metadata
        _batch_id,
        _source,
        _file,
        _line,
        _loaded_at

    from source

)

select * from renamed
