-- grain: 分馆 or 服务点 x year x seed-003 standard of marts.mart_branch_compliance (value, target, status and
-- gap are the mart's; the standards themselves live in the indicator seeds, not here), with each library's
-- roll-up for that year on every row: how many standards it meets, falls short of or cannot be judged on, and
-- its shortfalls in words.
-- The dataset `branch_scorecard` of the dashboards (dashboards/assets/datasets/shuyun_marts/branch_scorecard.yaml) is this view;
-- row-level security adds `county_code = '…'` outside it for a county director.
{{ config(materialized='view') }}

with per_library as (
    select
        library_code,
        year,
        count(*) filter (where status in ('pass', 'on_track')) as standards_met,
        count(*) filter (where status = 'fail') as standards_failed,
        count(*) filter (where status = 'behind') as standards_behind,
        count(*) filter (where status = 'not_computable') as standards_not_computable,
        string_agg(indicator_name_zh || ' ' || gap_text_zh || case when status = 'behind' then '（按进度）' else '' end,
                   '；' order by indicator_id)
            filter (where status in ('fail', 'behind')) as shortfalls_zh
    from {{ ref('mart_branch_compliance') }}
    group by 1, 2
),
prefectures as (
    select prefecture_code, max(prefecture_name_zh) as prefecture_name_zh
    from {{ ref('dim_library') }}
    where is_current and level = 'county'
    group by 1
)
select
    c.year,
    make_date(c.year, 1, 1) as year_start,
    c.year = (select max(year) from {{ ref('mart_branch_compliance') }}) as is_latest_year,
    c.library_code,
    c.library_name_zh,
    c.library_level,
    c.library_level_zh,
    c.parent_code,
    c.county_code,
    c.county_name_zh,
    c.prefecture_code,
    p.prefecture_name_zh,
    c.days_covered,
    c.is_complete_year,
    c.indicator_id,
    c.indicator_name_zh,
    c.unit_zh,
    c.value,
    c.value_source,
    c.not_computable_reason,
    c.annual_target,
    c.target,
    c.target_source,
    c.status,
    case c.status when 'pass' then '达标' when 'fail' then '未达标' when 'on_track' then '进度达标'
        when 'behind' then '进度落后' when 'not_computable' then '不可计算' end as status_zh,
    c.gap,
    c.gap_text_zh,
    l.standards_met,
    l.standards_failed,
    l.standards_behind,
    l.standards_not_computable,
    case when l.standards_failed > 0 then '未达标' when l.standards_behind > 0 then '进度落后'
        when l.standards_met > 0 then '达标' else '不可计算' end as compliance_zh,
    l.shortfalls_zh
from {{ ref('mart_branch_compliance') }} as c
inner join per_library as l on l.library_code = c.library_code and l.year = c.year
left join prefectures as p on p.prefecture_code = c.prefecture_code
