-- Grain: one reader activity (lecture, exhibition, reading promotion, training, other).
with

activities as (

    select * from {{ ref('stg_raw__activities') }}

),

library_versions as (

    select * from {{ ref('int_libraries_versioned') }}

),

types as (

    select * from {{ ref('activity_types') }}

)

select
    activities.activity_key,
    activities.activity_id,
    coalesce(library_versions.county_code, activities.county_code) as county_code,
    coalesce(library_versions.prefecture_code, left(activities.county_code, 4) || '00') as prefecture_code,
    activities.library_code,
    library_versions.level as library_level,
    activities.activity_date,
    date_trunc('month', activities.activity_date)::date as month_start,
    activities.activity_type,
    coalesce(types.activity_type_zh, activities.activity_type) as activity_type_zh,
    activities.title,
    activities.participants,
    activities.joint_with,
    (activities.joint_with is not null) as is_joint
from activities
left join library_versions
    on library_versions.library_code = activities.library_code
    and activities.activity_date >= library_versions.valid_from
    and (library_versions.valid_to is null or activities.activity_date < library_versions.valid_to)
left join types on types.activity_type = activities.activity_type
