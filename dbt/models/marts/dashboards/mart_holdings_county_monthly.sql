-- grain: month x county x library level x CLC top class x audience: the holdings dataset (v_holdings_monthly: each
-- library named, levelled and placed by its version valid at the end of the month) summed over the libraries.
-- The dataset `holdings_county_monthly` (dashboards/assets/datasets/shuyun_marts/holdings_county_monthly.yaml) of
-- the overview's holdings charts reads this table; row-level security adds `county_code = '…'` for a county director.
-- A table, not a view (issue 7): fct_holdings_monthly has a row per library, month, class and audience since the
-- holdings history start (423 k rows on the demo's 267 libraries: 0.9 s per chart request, growing with the
-- libraries); the overview's charts and filters need no finer grain than the county and the library level.
{{ config(
    materialized='table',
    indexes=[{'columns': ['month_start']}, {'columns': ['county_code', 'month_start']}],
) }}

select
    month_start,
    county_code,
    county_name_zh,
    prefecture_code,
    prefecture_name_zh,
    level_zh,
    clc_top_class,
    clc_top_class_zh,
    audience_zh,
    count(distinct library_code)::bigint as libraries,
    sum(items_held)::bigint as items_held,
    sum(items_added)::bigint as items_added,
    sum(items_withdrawn)::bigint as items_withdrawn
from {{ ref('v_holdings_monthly') }}
group by 1, 2, 3, 4, 5, 6, 7, 8, 9
