-- Grain: one rotation shipment (流转) from one library to another.
with

rotations as (

    select * from {{ ref('stg_raw__rotations') }}

),

library_versions as (

    select * from {{ ref('int_libraries_versioned') }}

)

select
    rotations.rotation_key,
    rotations.rotation_id,
    coalesce(sender.county_code, rotations.county_code) as county_code,
    coalesce(sender.prefecture_code, left(rotations.county_code, 4) || '00') as prefecture_code,
    rotations.from_library as library_code,
    rotations.from_library,
    rotations.to_library,
    sender.level as from_library_level,
    receiver.level as to_library_level,
    rotations.shipped_on,
    date_trunc('month', rotations.shipped_on)::date as month_start,
    rotations.volumes
from rotations
left join library_versions as sender
    on sender.library_code = rotations.from_library
    and rotations.shipped_on >= sender.valid_from
    and (sender.valid_to is null or rotations.shipped_on < sender.valid_to)
left join library_versions as receiver
    on receiver.library_code = rotations.to_library
    and rotations.shipped_on >= receiver.valid_from
    and (receiver.valid_to is null or rotations.shipped_on < receiver.valid_to)
