-- Grain: one indicator of the dictionary (seed indicators), with the targets the standards set per level, in
-- words — what the dashboards and the printed scorecard show next to each number.
with

targets as (

    select
        indicator_id,
        string_agg(levels.level_zh || ' ≥ ' || trim_scale(targets.target)::text, '；'
                   order by levels.level_rank) as targets_zh,
        string_agg(distinct targets.source, '; ') as target_sources
    from {{ ref('indicator_targets') }} as targets
    inner join {{ ref('library_levels') }} as levels on levels.level = targets.level
    group by indicator_id

)

select
    dictionary.indicator_id,
    dictionary.family,
    dictionary.name_zh,
    dictionary.name_en,
    dictionary.formula_zh,
    dictionary.formula_en,
    dictionary.formula_sql,
    dictionary.unit,
    dictionary.unit_zh,
    dictionary.grains,
    dictionary.direction,
    dictionary.is_annual_flow,
    dictionary.standard,
    dictionary.data_source,
    targets.targets_zh,
    targets.target_sources
from {{ ref('indicators') }} as dictionary
left join targets on targets.indicator_id = dictionary.indicator_id
