-- One row per delivery a data steward released from a quality hold (`shuyun quality release`), with when.
-- The incremental facts read a released delivery's lines on their next run, however old its rows are.
with

source as (

    select * from {{ source('quality', 'validation_results') }}
    where expectation = 'manual_release' and batch_id is not null

),

released as (

    select
        batch_id,
        max(validated_at) as released_at
    from source
    group by batch_id

)

select * from released
