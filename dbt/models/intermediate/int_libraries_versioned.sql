{{ config(materialized='table', indexes=[{'columns': ['library_code', 'valid_from']}]) }}
-- One row per library version with its place in the network as it stood when the version began:
-- the county main library (县级总馆) and prefecture library above it, found by walking parent codes
-- through the parent version valid on this version's valid_from (SCD2 as-of).
-- Where the walk finds no county ancestor (an orphan, or a province/prefecture library) the county is
-- read from the library code itself (its first six digits are the GB/T 2260 division, docs/feeds.md).
with recursive

versions as (

    select * from {{ ref('stg_raw__libraries') }}

),

walk as (

    select
        library_version_key,
        library_version_key as ancestor_version_key,
        level as ancestor_level,
        parent_code as ancestor_parent_code,
        valid_from as as_of,
        0 as depth
    from versions

    union all

    select
        walk.library_version_key,
        parent.library_version_key,
        parent.level,
        parent.parent_code,
        walk.as_of,
        walk.depth + 1
    from walk
    inner join versions as parent
        on parent.library_code = walk.ancestor_parent_code
        and parent.valid_from <= walk.as_of
        and (parent.valid_to is null or walk.as_of < parent.valid_to)
    where walk.depth < 12

),

nearest_ancestors as (

    -- the closest county and the closest prefecture above each version: one row per (version, level)
    select distinct on (walk.library_version_key, walk.ancestor_level)
        walk.library_version_key,
        walk.ancestor_level,
        ancestor.division_code,
        ancestor.name_zh
    from walk
    inner join versions as ancestor on ancestor.library_version_key = walk.ancestor_version_key
    where walk.ancestor_level in ('county', 'prefecture')
    order by walk.library_version_key, walk.ancestor_level, walk.depth

),

placed as (

    select
        versions.*,
        coalesce(left(nearest_county.division_code, 6), left(versions.library_code, 6)) as county_code,
        nullif(regexp_replace(nearest_county.name_zh, '(总馆|图书馆)$', ''), '') as county_name_zh,
        coalesce(
            left(nearest_prefecture.division_code, 6),
            left(coalesce(left(nearest_county.division_code, 6), left(versions.library_code, 6)), 4) || '00'
        ) as prefecture_code,
        nullif(regexp_replace(nearest_prefecture.name_zh, '(图书馆)$', ''), '') as prefecture_name_zh
    from versions
    left join nearest_ancestors as nearest_county
        on nearest_county.library_version_key = versions.library_version_key
        and nearest_county.ancestor_level = 'county'
    left join nearest_ancestors as nearest_prefecture
        on nearest_prefecture.library_version_key = versions.library_version_key
        and nearest_prefecture.ancestor_level = 'prefecture'

)

select * from placed
