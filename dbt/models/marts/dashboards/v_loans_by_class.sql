-- grain: day x library x CLC top class x children's flag, loans only (aggregated from marts.fct_circulation_events)
-- The dataset `loans_by_class` of the dashboards (dashboards/assets/datasets/shuyun_marts/loans_by_class.yaml) is this view;
-- row-level security adds `county_code = '…'` outside it for a county director.
{{ config(materialized='view') }}

select
    e.event_date,
    e.library_code,
    coalesce(l.name_zh, e.library_code) as library_name_zh,
    coalesce(l.level_zh, e.library_level) as level_zh,
    e.county_code,
    coalesce(l.county_name_zh, e.county_code) as county_name_zh,
    e.prefecture_code,
    coalesce(l.prefecture_name_zh, e.prefecture_code) as prefecture_name_zh,
    coalesce(clc.top_class, '?') as clc_top_class,
    case clc.top_class
        when 'A' then 'A 马列毛邓' when 'B' then 'B 哲学、宗教' when 'C' then 'C 社会科学总论'
        when 'D' then 'D 政治、法律' when 'E' then 'E 军事' when 'F' then 'F 经济'
        when 'G' then 'G 文化、科学、教育、体育' when 'H' then 'H 语言、文字' when 'I' then 'I 文学'
        when 'J' then 'J 艺术' when 'K' then 'K 历史、地理' when 'N' then 'N 自然科学总论'
        when 'O' then 'O 数理科学和化学' when 'P' then 'P 天文学、地球科学' when 'Q' then 'Q 生物科学'
        when 'R' then 'R 医药、卫生' when 'S' then 'S 农业科学' when 'T' then 'T 工业技术'
        when 'U' then 'U 交通运输' when 'V' then 'V 航空、航天' when 'X' then 'X 环境科学、安全科学'
        when 'Z' then 'Z 综合性图书' else '未分类'
    end as clc_class_zh,
    case when e.is_children_item then '少儿' else '成人' end as audience_zh,
    count(*) as loans
from {{ ref('fct_circulation_events') }} as e
left join {{ ref('dim_library') }} as l on l.library_version_key = e.library_version_key
cross join lateral (select upper(left(e.clc_top_class, 1)) as top_class) as clc
where e.event_type = 'loan'
group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
