-- Every delivered circulation line not held by the quality gate, with its rank among deliveries of
-- the same event (same _source + source_event_id; 1 = latest batch). Reconciliation counts from here;
-- stg_raw__circulation_events keeps rank 1 only.
with

delivered as (

    select * from {{ ref('stg_raw__circulation_deliveries') }}
    where not is_held

),

ranked as (

    select
        event_id,
        source_event_id,
        county_code,
        library_code,
        item_barcode,
        reader_key,
        reader_home_library,
        event_type,
        channel,
        due_date,
        event_date,
        event_at,
        _batch_id,
        _source,
        _file,
        _line,
        _loaded_at,
        {{ delivery_rank() }} as delivery_rank

    from delivered

)

select * from ranked
