-- grain: month x county x borrowing library x returning library for the county's 10 biggest pairs of the month
-- (pair_rank 1-10), plus one row per month x county x borrowing library's level that folds the county's other
-- pairs into 借 · 其他馆（<level>） → 还 · 其他馆 (pair_rank null, `pairs` = how many pairs it folds).
-- Totals stay exact: per month, county and level, loans and returned_loans equal mart_cross_library_pairs_monthly's
-- (tests/dashboards/test_datasets_sql.py checks it). A pair's total over several months counts only the months it
-- was among its county's top 10; the rest of it is in its county's 其他馆 row.
-- The overview's Sankey reads this table (dataset `cross_library_pairs_top`, issue 7): 891 k month x pair rows on
-- province-size marts were 958 ms per request; here at most 13 rows per county and month. Source names start 借 ·,
-- target names 还 ·, so no node is both (a Sankey without cycles). Row-level security adds `county_code = '…'`;
-- the native filters read prefecture_name_zh, county_name_zh, level_zh and month_start, all kept per row.
{{ config(
    materialized='table',
    indexes=[{'columns': ['month_start']}, {'columns': ['county_code', 'month_start']}],
) }}

with ranked as (
    select
        *,
        row_number() over (
            partition by county_code, month_start
            order by loans desc, borrow_library_code, return_library_code
        ) as pair_rank
    from {{ ref('mart_cross_library_pairs_monthly') }}
)

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
    pair_rank::integer as pair_rank,
    1 as pairs,
    loans,
    returned_loans
from ranked
where pair_rank <= 10

union all

select
    month_start,
    null as borrow_library_code,
    '借 · 其他馆（' || coalesce(nullif(level_zh, ''), '未知') || '）' as borrow_library_zh,
    null as return_library_code,
    '还 · 其他馆' as return_library_zh,
    level_zh,
    county_code,
    county_name_zh,
    prefecture_code,
    prefecture_name_zh,
    null::integer as pair_rank,
    count(*)::integer as pairs,
    sum(loans)::bigint as loans,
    sum(returned_loans)::bigint as returned_loans
from ranked
where pair_rank > 10
group by month_start, level_zh, county_code, county_name_zh, prefecture_code, prefecture_name_zh
