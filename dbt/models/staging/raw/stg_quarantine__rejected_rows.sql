-- One row per rejected input row, with the county and day it concerns (for reconciliation).
with

source as (

    select * from {{ source('quarantine', 'rejected_rows') }}

),

batches as (

    select batch_id, county_code from {{ source('raw', 'ingest_batches') }}

),

renamed as (

    select
        -- ids
        source._batch_id || ':' || source._file || ':' || coalesce(source._line, 0)::text || ':' || source.rule
            as rejected_row_key,
        coalesce(batches.county_code, substring(source._source from '^c(\d{6})')) as county_code,

        -- strings
        source._source,
        source.feed,
        source._file,
        source.rule,
        source.reason,
        source.record,

        -- numbers
        source._line,

        -- dates: the delivery day is in the file name (circ_YYYYMMDD.csv, gate_YYYYMMDD.csv);
        -- otherwise the day the row was rejected
        coalesce(
            to_date(substring(source._file from '(20[0-9]{2}[01][0-9][0-3][0-9])\.[A-Za-z0-9]+$'), 'YYYYMMDD'),
            (source._loaded_at at time zone '{{ var("local_time_zone") }}')::date
        ) as delivery_date,

        -- load metadata
        source._batch_id,
        source._loaded_at

    from source
    left join batches on batches.batch_id = source._batch_id

)

select * from renamed
