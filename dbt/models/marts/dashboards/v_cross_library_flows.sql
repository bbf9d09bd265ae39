-- grain: month x borrowing library x returning library x item home x reader home (marts.fct_cross_library_flows)
-- source/target labels carry 借/还 so a library that both lends and takes returns is two Sankey nodes (no cycles)
-- The dataset `cross_library_flows` of the dashboards (dashboards/assets/datasets/shuyun_marts/cross_library_flows.yaml) is this view;
-- row-level security adds `county_code = '…'` outside it for a county director.
{{ config(materialized='view') }}

select
    f.month_start,
    f.borrow_library_code,
    '借 · ' || coalesce(l.name_zh, f.borrow_library_code) as borrow_library_zh,
    f.return_library_code,
    '还 · ' || coalesce(r.name_zh, f.return_library_code) as return_library_zh,
    f.item_home_library,
    f.reader_home_library,
    coalesce(l.level_zh, '') as level_zh,
    f.county_code,
    coalesce(l.county_name_zh, f.county_code) as county_name_zh,
    f.prefecture_code,
    coalesce(l.prefecture_name_zh, f.prefecture_code) as prefecture_name_zh,
    f.return_library_code is not null and f.return_library_code <> f.borrow_library_code as is_returned_elsewhere,
    f.item_home_library <> f.borrow_library_code as is_cross_library_item,
    f.loans,
    f.returned_loans
from {{ ref('fct_cross_library_flows') }} as f
-- the borrowing library's version valid at the end of the month (the latest one overlapping it)
left join lateral (
    select v.*
    from {{ ref('dim_library') }} as v
    where v.library_code = f.borrow_library_code
        and v.valid_from < f.month_start + interval '1 month'
        and (v.valid_to is null or v.valid_to > f.month_start)
    order by v.valid_from desc
    limit 1
) as l on true
left join {{ ref('dim_library') }} as r
    on r.library_code = f.return_library_code
    and r.is_current
