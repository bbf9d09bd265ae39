-- grain: county x period (month, quarter, year) x indicator of marts.mart_county_scorecard, with the wording
-- of the indicator dictionary (marts.dim_indicator). Values, targets, statuses, ranks, percentiles and the
-- peers (the prefecture's and province's roll-ups and the median over the counties) are the mart's, already on
-- each county's own row, so they survive a county director's row-level security: nothing is judged here, and
-- the query is a filter on the mart (no window over it at query time).
-- The dataset `county_scorecard` of the dashboards (dashboards/assets/datasets/shuyun_marts/county_scorecard.yaml) is this view;
-- row-level security adds `county_code = '…'` outside it for a county director.
{{ config(materialized='view') }}

with latest as (
    -- per period type: the latest period the counties' data covers completely, else the latest with any data
    -- (the rule of the printed scorecard, reports/data.py), the same for every county
    select distinct on (period_type) period_type, period_start
    from {{ ref('mart_county_scorecard') }}
    where area_level = 'county'
    group by period_type, period_start
    order by period_type, bool_or(is_complete_period) desc, period_start desc
)
select
    s.county_code,
    s.area_name_zh as county_name_zh,
    s.prefecture_code,
    s.prefecture_name_zh,
    s.period_type,
    case s.period_type when 'month' then '月' when 'quarter' then '季度' when 'year' then '年' end as period_type_zh,
    s.period_start,
    case s.period_type
        when 'month' then to_char(s.period_start, 'YYYY"年"FMMM"月"')
        when 'quarter' then to_char(s.period_start, 'YYYY"年第"Q"季度"')
        else to_char(s.period_start, 'YYYY"年"')
    end as period_label,
    latest.period_start is not null as is_latest_period,
    s.days_covered,
    s.period_days,
    s.is_complete_period,
    s.indicator_id,
    s.indicator_name_zh,
    s.indicator_name_en,
    s.indicator_family,
    case s.indicator_family when 'standard' then '建设标准' when 'statistic' then '统计指标'
        when 'performance' then '绩效指标' when 'digital' then '数字图书馆' end as indicator_family_zh,
    d.formula_zh,
    d.targets_zh,
    s.unit_zh,
    s.value,
    s.numerator,
    s.denominator,
    s.value_source,
    s.not_computable_reason,
    s.annual_target,
    s.target,
    s.target_source,
    s.status,
    case s.status when 'pass' then '达标' when 'fail' then '未达标' when 'on_track' then '进度达标'
        when 'behind' then '进度落后' when 'no_target' then '无达标线' when 'not_computable' then '不可计算'
    end as status_zh,
    s.rank_in_province,
    s.counties_ranked_in_province,
    s.rank_in_province || ' / ' || s.counties_ranked_in_province as rank_in_province_zh,
    s.percentile_in_province,
    s.rank_in_prefecture,
    s.percentile_in_prefecture,
    s.county_median_value as province_median_value,
    s.prefecture_value,
    s.province_value,
    s.value_last_year,
    s.change_pct_vs_last_year
from {{ ref('mart_county_scorecard') }} as s
left join {{ ref('dim_indicator') }} as d on d.indicator_id = s.indicator_id
left join latest on latest.period_type = s.period_type and latest.period_start = s.period_start
where s.area_level = 'county'
