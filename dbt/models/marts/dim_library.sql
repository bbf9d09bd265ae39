-- Grain: one row per library version (SCD type 2; valid_to exclusive, null = current).
with

versions as (

    select * from {{ ref('int_libraries_versioned') }}

),

levels as (

    select * from {{ ref('library_levels') }}

)

select
    versions.library_version_key,
    versions.library_code,
    versions.name_zh,
    versions.name_en,
    versions.level,
    levels.level_zh,
    versions.parent_code,
    versions.county_code,
    versions.county_name_zh,
    versions.prefecture_code,
    versions.prefecture_name_zh,
    versions.division_code,
    versions.population_served,
    versions.floor_area_m2,
    versions.seats,
    versions.children_seats,
    versions.networked_pcs,
    versions.weekly_open_hours,
    versions.staff,
    versions.periodicals,
    versions.valid_from,
    versions.valid_to,
    (versions.valid_to is null) as is_current
from versions
left join levels on levels.level = versions.level
