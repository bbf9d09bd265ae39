-- grain: library x month x CLC top class x audience (marts.fct_holdings_monthly)
-- The dataset `holdings_monthly` of the dashboards (dashboards/assets/datasets/shuyun_marts/holdings_monthly.yaml) is this view;
-- row-level security adds `county_code = '…'` outside it for a county director.
{{ config(materialized='view') }}

select
    h.month_start,
    h.library_code,
    coalesce(l.name_zh, h.library_code) as library_name_zh,
    coalesce(l.level_zh, '') as level_zh,
    h.county_code,
    coalesce(l.county_name_zh, h.county_code) as county_name_zh,
    h.prefecture_code,
    coalesce(l.prefecture_name_zh, h.prefecture_code) as prefecture_name_zh,
    h.clc_top_class,
    coalesce(h.clc_top_class_zh, h.clc_top_class, '未分类') as clc_top_class_zh,
    case h.audience when 'children' then '少儿' else '成人' end as audience_zh,
    h.items_held,
    h.items_added,
    h.items_withdrawn
from {{ ref('fct_holdings_monthly') }} as h
-- the library version valid at the end of the month (the latest one overlapping it): one name per row
left join lateral (
    select v.*
    from {{ ref('dim_library') }} as v
    where v.library_code = h.library_code
        and v.valid_from < h.month_start + interval '1 month'
        and (v.valid_to is null or v.valid_to > h.month_start)
    order by v.valid_from desc
    limit 1
) as l on true
