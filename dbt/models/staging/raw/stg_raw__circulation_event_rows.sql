-- Every delivered circulation line, typed, with its rank among deliveries of the same event
-- (same _source + source_event_id; 1 = latest batch). Reconciliation counts from here;
-- stg_raw__circulation_events keeps rank 1 only.
with

source as (

    select * from {{ source('raw', 'circulation_events') }}
    where {{ not_blocked() }}

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

        -- load metadata
        _batch_id,
        _source,
        _file,
        _line,
        _loaded_at,
        row_number() over (
            partition by _source, source_event_id
            order by _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank

    from source

)

select * from renamed
