-- grain: month x library x CLC top class x audience, loans only (counted from marts.fct_circulation_events), with
-- the names of the library version valid at the end of the month (as the holdings dataset).
-- The dataset `loans_by_class` of the dashboards (dashboards/assets/datasets/shuyun_marts/loans_by_class.yaml) reads
-- this table; row-level security adds `county_code = '…'` for a county director.
-- A table, not a view (issue 7): counting the events fact on every chart request took 0.9 s on the demo's 278 k
-- events and grows with the fact (20 M events: ~9 M loans); this grain has at most libraries x months x 12 rows.
-- Rebuilt whole on every run (one pass over the loans).
{{ config(
    materialized='table',
    indexes=[{'columns': ['month_start']}, {'columns': ['county_code', 'month_start']}],
) }}

with

loans as (

    select
        date_trunc('month', event_date)::date as month_start,
        library_code,
        library_level,
        county_code,
        prefecture_code,
        upper(left(clc_top_class, 1)) as top_class,
        coalesce(is_children_item, false) as is_children_item,
        count(*) as loans
    from {{ ref('fct_circulation_events') }}
    where event_type = 'loan'
    group by 1, 2, 3, 4, 5, 6, 7

)

select
    loans.month_start,
    loans.library_code,
    coalesce(l.name_zh, loans.library_code) as library_name_zh,
    coalesce(l.level_zh, loans.library_level) as level_zh,
    loans.county_code,
    coalesce(l.county_name_zh, loans.county_code) as county_name_zh,
    loans.prefecture_code,
    coalesce(l.prefecture_name_zh, loans.prefecture_code) as prefecture_name_zh,
    coalesce(loans.top_class, '?') as clc_top_class,
    case loans.top_class
        when 'A' then 'A 马列毛邓' when 'B' then 'B 哲学、宗教' when 'C' then 'C 社会科学总论'
        when 'D' then 'D 政治、法律' when 'E' then 'E 军事' when 'F' then 'F 经济'
        when 'G' then 'G 文化、科学、教育、体育' when 'H' then 'H 语言、文字' when 'I' then 'I 文学'
        when 'J' then 'J 艺术' when 'K' then 'K 历史、地理' when 'N' then 'N 自然科学总论'
        when 'O' then 'O 数理科学和化学' when 'P' then 'P 天文学、地球科学' when 'Q' then 'Q 生物科学'
        when 'R' then 'R 医药、卫生' when 'S' then 'S 农业科学' when 'T' then 'T 工业技术'
        when 'U' then 'U 交通运输' when 'V' then 'V 航空、航天' when 'X' then 'X 环境科学、安全科学'
        when 'Z' then 'Z 综合性图书' else '未分类'
    end as clc_class_zh,
    case when loans.is_children_item then '少儿' else '成人' end as audience_zh,
    sum(loans.loans)::bigint as loans
from loans
-- the library version valid at the end of the month (the latest one overlapping it): one name per row
left join lateral (
    select v.*
    from {{ ref('dim_library') }} as v
    where v.library_code = loans.library_code
        and v.valid_from < loans.month_start + interval '1 month'
        and (v.valid_to is null or v.valid_to > loans.month_start)
    order by v.valid_from desc
    limit 1
) as l on true
group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
