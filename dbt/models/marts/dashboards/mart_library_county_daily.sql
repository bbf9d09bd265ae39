-- grain: day x county x library level: the daily dataset (v_library_daily: each library named, levelled and placed
-- by its version valid that day) summed over the libraries.
-- The dataset `library_county_daily` (dashboards/assets/datasets/shuyun_marts/library_county_daily.yaml) of the
-- overview's circulation charts and native filters reads this table; row-level security adds `county_code = '…'`
-- for a county director.
-- A table, not a view (issue 7): fct_library_daily has a row per library and day (1.3 M a year for 3,600
-- libraries), and every overview chart summed all of it through the version look-up on each request; the overview
-- needs no finer grain than the county and the library level. distinct_readers is not additive and stays in
-- v_library_daily.
{{ config(
    materialized='table',
    indexes=[{'columns': ['date_day']}, {'columns': ['county_code', 'date_day']}],
) }}

select
    date_day,
    county_code,
    county_name_zh,
    prefecture_code,
    prefecture_name_zh,
    level_zh,
    count(*)::bigint as libraries,
    sum(loans)::bigint as loans,
    sum(returns)::bigint as returns,
    sum(renewals)::bigint as renewals,
    sum(visits)::bigint as visits
from {{ ref('v_library_daily') }}
group by 1, 2, 3, 4, 5, 6
