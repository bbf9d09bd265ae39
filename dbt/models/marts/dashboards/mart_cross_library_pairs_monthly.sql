-- grain: month x borrowing library x returning library, loans returned at another library than the one that lent
-- them (通借通还), from the flows dataset (v_cross_library_flows: names of the versions valid at the month's end).
-- The dataset `cross_library_pairs` (dashboards/assets/datasets/shuyun_marts/cross_library_pairs.yaml) of the
-- overview's Sankey reads this table; row-level security adds `county_code = '…'` for a county director.
-- A table, not a view (issue 7): the Sankey summed the 2.5 M flow rows of 20 M events through the per-row version
-- look-up on each request (3.6 s); here only the pairs that returned elsewhere remain, item and reader home summed out.
{{ config(
    materialized='table',
    indexes=[{'columns': ['month_start']}, {'columns': ['county_code', 'month_start']}],
) }}

select
    month_start,
    borrow_library_code,
    borrow_library_zh,
    return_library_code,
    return_library_zh,
    level_zh,
    county_code,
    county_name_zh,
    prefecture_code,
    prefecture_name_zh,
    sum(loans)::bigint as loans,
    sum(returned_loans)::bigint as returned_loans
from {{ ref('v_cross_library_flows') }}
where is_returned_elsewhere
group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
