-- One row per item: the item as described by the latest holdings snapshot that lists it.
-- (An item missing from later snapshots keeps its last known state; withdrawals are read from
-- withdrawn_on / status, not from absence.)
with

source as (

    select * from {{ source('raw', 'holdings_items') }}
    where {{ not_blocked() }}

),

snapshots as (

    select
        *,
        -- the snapshot's day is in the file name (holdings_YYYYMMDD.mrc); else the day it was loaded
        coalesce(
            to_date(substring(_file from '(20[0-9]{2}[01][0-9][0-3][0-9])\.[A-Za-z0-9]+$'), 'YYYYMMDD'),
            (_loaded_at at time zone '{{ var("local_time_zone") }}')::date
        ) as snapshot_date
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by item_barcode
            order by snapshot_date desc, _loaded_at desc, _batch_id desc, _line desc
        ) as delivery_rank
    from snapshots

),

renamed as (

    select
        -- ids
        item_barcode,
        county_code,
        owning_library,
        current_library,
        bib_id,
        isbn,

        -- strings
        title,
        clc_class,
        case
            when upper(left(trim(clc_class), 1)) in (
                'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K',
                'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'X', 'Z'
            ) then upper(left(trim(clc_class), 1))
        end as clc_top_class,
        status,

        -- booleans
        coalesce(is_children, false) as is_children,

        -- dates
        acquired_on,
        coalesce(withdrawn_on, case when status = 'withdrawn' then snapshot_date end) as withdrawn_on,
        snapshot_date,

        -- load metadata
        _batch_id,
        _loaded_at

    from ranked
    where delivery_rank = 1

)

select * from renamed
