-- Grain: one area (county, prefecture or the province) x reporting period with any data: the numerators and
-- denominators every scorecard indicator is computed from. Counties add up their libraries (总馆, 分馆,
-- 服务点, vans, self-service; the provincial and prefecture libraries belong to no county); prefectures and
-- the province add up their counties. Population served is the county 总馆's (registry), summed upwards.
{{ config(schema='intermediate', materialized='table', contract={'enforced': false}) }}

with

libraries as (

    select * from {{ ref('int_indicator_library_periods') }}
    where level not in ('province', 'prefecture')

),

periods as (

    select * from {{ ref('int_indicator_periods') }}

),

reader_counties as (

    -- the county of each reader's home library (its latest version)
    select distinct on (library_code) library_code, county_code
    from {{ ref('dim_library') }}
    order by library_code, valid_from desc

),

active_readers as (

    select periods.period_type, periods.period_start, reader_counties.county_code,
        count(distinct events.reader_key) as active_readers
    from {{ ref('fct_circulation_events') }} as events
    inner join periods on events.event_date >= periods.period_start and events.event_date < periods.period_end
    inner join reader_counties on reader_counties.library_code = events.reader_home_library
    where events.event_type = 'loan'
    group by 1, 2, 3

),

returns as (

    select periods.period_type, periods.period_start, loans.county_code,
        count(*) filter (where loans.returned_at is not null) as returned_loans,
        count(*) filter (where loans.is_returned_elsewhere) as returned_elsewhere
    from {{ ref('fct_loans') }} as loans
    inner join periods on loans.loan_date >= periods.period_start and loans.loan_date < periods.period_end
    group by 1, 2, 3

),

counties as (

    select
        period_type, period_start, period_end, period_days, county_code,
        max(county_name_zh) as county_name_zh,
        max(prefecture_code) as prefecture_code,
        max(prefecture_name_zh) as prefecture_name_zh,
        max(population_served) filter (where level = 'county') as population_served,
        max(staff) filter (where level = 'county') as main_library_staff,
        -- the days the county's figures cover: those of its least-covered reporting library (logs or forms)
        coalesce(min(days_covered) filter (where days_covered > 0), 0) as days_covered,
        -- flows projected to the whole period, each library's figure scaled by the days its own data covers
        -- (what an incomplete year would reach at the same pace; the assessment scores this, flagged provisional)
        sum(loans_used * period_days::numeric / nullif(days_covered, 0)) as loans_projected,
        sum(visits_used * period_days::numeric / nullif(days_covered, 0)) as visits_projected,
        sum(new_volumes_used * period_days::numeric / nullif(days_covered, 0)) as new_volumes_projected,
        sum(reader_activities_used * period_days::numeric / nullif(days_covered, 0))
            as reader_activities_projected,
        sum(forms_filed) as forms_filed,
        bool_or(on_circulation_log) as on_circulation_log,

        sum(loans_used) as loans,
        sum(loans_log) as loans_log,
        sum(loans_form) as loans_form,
        sum(loans_used) filter (where level <> 'county') as outlet_loans,
        {{ merge_sources('loans_source') }} as loans_source,
        sum(visits_used) as visits,
        sum(visits_log) as visits_log,
        sum(visits_form) as visits_form,
        {{ merge_sources('visits_source') }} as visits_source,
        sum(volumes_held_used) as volumes_held,
        {{ merge_sources('volumes_held_source') }} as volumes_held_source,
        sum(volumes_held_log) filter (where volumes_not_lent is not null) as volumes_held_lendable,
        sum(volumes_not_lent) as volumes_not_lent,
        sum(new_volumes_used) as new_volumes,
        {{ merge_sources('new_volumes_source') }} as new_volumes_source,
        sum(new_volumes_log) filter (where level in ('county', 'branch')) as system_new_volumes,
        sum(new_volumes_log) as new_volumes_holdings,
        sum(new_children_volumes) as new_children_volumes,
        sum(reader_activities_used) as reader_activities,
        {{ merge_sources('reader_activities_source') }}
            as reader_activities_source,
        sum(lectures) as lectures,
        sum(exhibitions) as exhibitions,
        sum(joint_reading_promotions) as joint_reading_promotions,
        sum(registered_readers) as registered_readers,
        count(*) filter (where registered_readers is not null) as libraries_reporting_readers,
        count(*) filter (where level in ('branch', 'service_point', 'mobile', 'self_service')
                         and (valid_to is null or valid_to >= period_end)) as outlets,
        -- branches and service points that belong to the county at the period's end
        count(*) filter (where level = 'branch' and (valid_to is null or valid_to >= period_end)) as branches,
        count(*) filter (where level = 'service_point' and (valid_to is null or valid_to >= period_end))
            as service_points,
        sum(quarters_with_rotation) filter (where level = 'branch') as branch_quarters_with_rotation,
        sum(months_with_rotation) filter (where level = 'service_point') as point_months_with_rotation,
        count(*) as libraries
    from libraries
    group by period_type, period_start, period_end, period_days, county_code

),

county_rows as (

    select
        counties.*,
        active_readers.active_readers,
        returns.returned_loans,
        returns.returned_elsewhere
    from counties
    left join active_readers using (period_type, period_start, county_code)
    left join returns using (period_type, period_start, county_code)

),

{#- ratio indicators: numerator and denominator kept only where both exist, so a roll-up divides like by like -#}
{%- set ratios = [
    ('visits_per_capita', 'visits', 'population_served'),
    ('loans_per_capita', 'loans', 'population_served'),
    ('holdings_per_capita', 'volumes_held', 'population_served'),
    ('new_acquisitions_per_capita', 'new_volumes', 'population_served'),
    ('new_acquisitions_per_capita_projected', 'new_volumes_projected', 'population_served'),
    ('system_new_volumes_per_capita', 'system_new_volumes', 'population_served'),
    ('active_readers_share', 'active_readers', 'population_served'),
    ('registered_readers_share', 'registered_readers', 'population_served'),
    ('collection_turnover', 'loans', 'volumes_held'),
    ('stock_unused_share', 'volumes_not_lent', 'volumes_held_lendable'),
    ('children_new_share', 'new_children_volumes', 'new_volumes_holdings'),
    ('branch_circulation_share', 'outlet_loans', 'loans'),
    ('cross_library_return_share', 'returned_elsewhere', 'returned_loans'),
    ('rotation_branch_quarterly', 'branch_quarters_with_rotation', 'branch_quarters_due'),
    ('rotation_service_point_monthly', 'point_months_with_rotation', 'point_months_due'),
] -%}
{%- set counts = ['loans', 'loans_log', 'loans_form', 'visits', 'visits_log', 'visits_form', 'volumes_held',
                  'new_volumes', 'system_new_volumes', 'reader_activities', 'lectures', 'exhibitions',
                  'joint_reading_promotions', 'registered_readers', 'active_readers', 'outlets', 'branches',
                  'service_points', 'libraries', 'population_served', 'main_library_staff', 'loans_projected',
                  'visits_projected', 'new_volumes_projected', 'reader_activities_projected'] -%}
{%- set sources = ['loans_source', 'visits_source', 'volumes_held_source', 'new_volumes_source',
                   'reader_activities_source'] -%}

paired as (

    select
        county_rows.*,
        -- rotations due: branches once a quarter, service points once a month, over the months the data covers
        branches * greatest(1, ceil(days_covered / 91.3)) as branch_quarters_due,
        service_points * greatest(1, round(days_covered / 30.4)) as point_months_due
    from county_rows
    where days_covered > 0

),

county_areas as (

    select
        'county' as area_level, county_code as area_code, county_name_zh as area_name_zh, prefecture_code,
        prefecture_name_zh, period_type, period_start, period_end, period_days, days_covered,
        1 as counties,
        {%- for c in counts %}
        {{ c }},
        {%- endfor %}
        {%- for s in sources %}
        {{ s }},
        {%- endfor %}
        {%- for name, num, den in ratios %}
        case when {{ num }} is not null and {{ den }} is not null then {{ num }} end as {{ name }}_num,
        case when {{ num }} is not null and {{ den }} is not null then {{ den }} end as {{ name }}_den{{ "," if not loop.last }}
        {%- endfor %}
    from paired

),

rollups as (

    select
        case when grouping(prefecture_code) = 0 then 'prefecture' else 'province' end as area_level,
        coalesce(prefecture_code, 'province') as area_code,
        case when grouping(prefecture_code) = 0 then max(prefecture_name_zh) else '全省' end as area_name_zh,
        prefecture_code, max(prefecture_name_zh) as prefecture_name_zh,
        period_type, period_start, period_end, period_days, min(days_covered) as days_covered,
        count(*) as counties,
        {%- for c in counts %}
        sum({{ c }}) as {{ c }},
        {%- endfor %}
        {%- for s in sources %}
        {{ merge_sources(s) }} as {{ s }},
        {%- endfor %}
        {%- for name, num, den in ratios %}
        sum({{ name }}_num) as {{ name }}_num,
        sum({{ name }}_den) as {{ name }}_den{{ "," if not loop.last }}
        {%- endfor %}
    from county_areas
    group by grouping sets ((period_type, period_start, period_end, period_days, prefecture_code),
                            (period_type, period_start, period_end, period_days))

)

select * from county_areas
union all
select * from rollups
