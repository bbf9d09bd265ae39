with

source as (

    select * from {{ source('raw', 'ingest_batches') }}

),

renamed as (

    select
        -- ids
        batch_id,
        source as source_name,
        county_code,

        -- strings
        feed,
        file_name,
        file_sha256,
        archived_path,
        watermark,
        status,
        message,
        superseded_by,

        -- numbers
        rows_read,
        rows_loaded,
        rows_quarantined,

        -- timestamps
        started_at,
        finished_at

    from source

)

select * from renamed
