-- grain: month x county x level of the borrowing library: the flows dataset (v_cross_library_flows: each borrowing
-- library named, levelled and placed by its version valid at the end of the month) summed over the libraries.
-- The dataset `cross_library_flows_county` (dashboards/assets/datasets/shuyun_marts/cross_library_flows_county.yaml)
-- of the overview's returned-elsewhere total and share-by-county table reads this table; row-level security adds
-- `county_code = '…'` for a county director.
-- A table, not a view (issue 7): fct_cross_library_flows has a row per month and borrowing x returning x item home x
-- reader home library (2.5 M rows for 20 M events), and both charts summed all of it through the version look-up on
-- each request (3.3–3.8 s). The Sankey needs the library pairs and stays on v_cross_library_flows.
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
    sum(loans)::bigint as loans,
    sum(case when is_cross_library_item then loans else 0 end)::bigint as cross_item_loans,
    sum(returned_loans)::bigint as returned_loans,
    sum(case when is_returned_elsewhere then returned_loans else 0 end)::bigint as returned_elsewhere
from {{ ref('v_cross_library_flows') }}
group by 1, 2, 3, 4, 5, 6
