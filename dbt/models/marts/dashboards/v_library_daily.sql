-- grain: library x day (marts.fct_library_daily), with the names of the library version valid that day
-- The dataset `library_daily` of the dashboards (dashboards/assets/datasets/shuyun_marts/library_daily.yaml) is this view;
-- row-level security adds `county_code = '…'` outside it for a county director.
{{ config(materialized='view') }}

select
    f.date_day,
    f.library_code,
    f.library_level,
    coalesce(l.name_zh, f.library_code) as library_name_zh,
    coalesce(l.level_zh, f.library_level) as level_zh,
    f.county_code,
    coalesce(l.county_name_zh, f.county_code) as county_name_zh,
    f.prefecture_code,
    coalesce(l.prefecture_name_zh, f.prefecture_code) as prefecture_name_zh,
    f.loans,
    f.returns,
    f.renewals,
    f.visits,
    f.distinct_readers
from {{ ref('fct_library_daily') }} as f
left join {{ ref('dim_library') }} as l
    on l.library_code = f.library_code
    and f.date_day >= l.valid_from
    and (l.valid_to is null or f.date_day < l.valid_to)
