-- grain: county library (总馆) x assessment year x indicator of the round's points table, as marts.mart_assessment
-- has it: value, points, total, grade and the evidence are the mart's (the points table and grade rule are data
-- in the seeds, not here); the dictionary (marts.dim_indicator) adds the formula and the standard behind each.
-- The dataset `assessment_indicators` of the dashboards (dashboards/assets/datasets/shuyun_marts/assessment_indicators.yaml) is this view;
-- row-level security adds `county_code = '…'` outside it for a county director.
{{ config(materialized='view') }}

with prefectures as (
    select prefecture_code, max(prefecture_name_zh) as prefecture_name_zh
    from {{ ref('dim_library') }}
    where is_current and level = 'county'
    group by 1
)
select
    a.assessment_round,
    a.assessment_year,
    make_date(a.assessment_year, 1, 1) as year_start,
    a.library_code,
    a.library_name_zh,
    a.county_code,
    a.county_name_zh,
    a.prefecture_code,
    p.prefecture_name_zh,
    a.days_covered,
    a.is_provisional,
    case when a.is_provisional then '暂定（年度未完，按已覆盖天数折算全年）' else '正式' end as provisional_zh,
    a.indicator_id,
    a.indicator_name_zh,
    a.indicator_name_en,
    a.indicator_family,
    case a.indicator_family when 'standard' then '建设标准' when 'statistic' then '统计指标'
        when 'performance' then '绩效指标' when 'digital' then '数字图书馆' end as indicator_family_zh,
    d.formula_zh,
    d.standard,
    a.unit_zh,
    a.value,
    a.value_for_points,
    a.value_source,
    a.not_computable_reason,
    a.numerator,
    a.denominator,
    a.points,
    a.max_points,
    case when a.points is null then '不可计算' when a.points >= a.max_points then '满分'
        when a.points > 0 then '部分得分' else '未得分' end as points_status_zh,
    a.total_points,
    a.max_points_computable,
    a.indicators_computable,
    a.indicators_listed,
    a.grade,
    coalesce(a.grade_zh, '未达级') as grade_zh,
    a.evidence,
    a.evidence_batch_ids
from {{ ref('mart_assessment') }} as a
left join {{ ref('dim_indicator') }} as d on d.indicator_id = a.indicator_id
left join prefectures as p on p.prefecture_code = a.prefecture_code
