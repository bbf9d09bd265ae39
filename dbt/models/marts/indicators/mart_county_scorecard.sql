-- Grain: one area (county; and its prefecture and the province as roll-ups) x reporting period (month,
-- quarter, year) x indicator of the dictionary (seed indicators). Value with its numerator and denominator,
-- which feed it came from, the target where a standard sets one (annual targets pro rata to the days the data
-- covers), status, rank and percentile among the province's counties and within the prefecture, and the
-- change against the same period a year earlier. A value that cannot be computed is null with the reason.
{%- set per_capita = 'population served (服务人口) is missing in the registry' -%}
{#- (indicator, column or ratio name, multiplier, source column or literal, reason when there is no value) -#}
{%- set projected = {'loans': 'loans_projected', 'visits': 'visits_projected', 'new_volumes': 'new_volumes_projected',
                     'reader_activities': 'reader_activities_projected'} -%}
{%- set counts = [
    ('loans', 'loans', "loans_source", 'no circulation log or statistics form covers this period'),
    ('visits', 'visits', "visits_source", 'no gate counts or statistics form cover this period'),
    ('volumes_held', 'volumes_held', "volumes_held_source", 'no holdings file or statistics form'),
    ('new_volumes', 'new_volumes', "new_volumes_source", 'no holdings file or statistics form'),
    ('reader_activities', 'reader_activities', "reader_activities_source", 'no activity log or statistics form'),
    ('lectures', 'lectures', "'logs'", 'no activity log delivered'),
    ('exhibitions', 'exhibitions', "'logs'", 'no activity log delivered'),
    ('joint_reading_promotions', 'joint_reading_promotions', "'logs'", 'no activity log delivered'),
    ('outlets', 'outlets', "'registry'", 'no registry'),
    ('staff', 'main_library_staff', "'registry'", 'staff of the main library (总馆) missing in the registry'),
] -%}
{%- set ratios = [
    ('visits_per_capita', 1, "visits_source", 'visits'),
    ('loans_per_capita', 1, "loans_source", 'loans'),
    ('holdings_per_capita', 1, "volumes_held_source", 'volumes_held'),
    ('new_acquisitions_per_capita', 1, "new_volumes_source", 'new_volumes'),
    ('system_new_volumes_per_capita', 1, "'holdings'", 'system_new_volumes'),
    ('active_readers_share', 100, "'logs'", 'active_readers'),
    ('registered_readers_share', 100, "'forms'", 'registered_readers'),
    ('collection_turnover', 1, "loans_source", 'loans'),
    ('stock_unused_share', 100, "'holdings+logs'", 'volumes_not_lent'),
    ('children_new_share', 100, "'holdings'", 'new_volumes'),
    ('branch_circulation_share', 100, "loans_source", 'loans'),
    ('cross_library_return_share', 100, "'logs'", 'returned_loans'),
    ('rotation_branch_quarterly', 100, "'logs'", 'rotations'),
    ('rotation_service_point_monthly', 100, "'logs'", 'rotations'),
] -%}
{%- set ratio_reasons = {
    'visits_per_capita': 'no gate counts or statistics form, or ' ~ per_capita,
    'loans_per_capita': 'no circulation log or statistics form, or ' ~ per_capita,
    'holdings_per_capita': 'no holdings file or statistics form, or ' ~ per_capita,
    'new_acquisitions_per_capita': 'no holdings file or statistics form, or ' ~ per_capita,
    'system_new_volumes_per_capita': 'no holdings file for the main library and branches, or ' ~ per_capita,
    'active_readers_share': 'no circulation log (distinct borrowers come only from logs), or ' ~ per_capita,
    'registered_readers_share': 'no statistics form reports registered readers (no feed carries ILS reader registrations), or ' ~ per_capita,
    'collection_turnover': 'loans or holdings missing for this period',
    'stock_unused_share': 'needs item-level holdings and circulation logs of the same libraries',
    'children_new_share': 'no item acquired in the period (or no holdings file)',
    'branch_circulation_share': 'no loans recorded in this period',
    'cross_library_return_share': 'no returned loans in this period (or no circulation log)',
    'rotation_branch_quarterly': 'the county has no branches, or no rotation log',
    'rotation_service_point_monthly': 'the county has no service points, or no rotation log',
} %}

with

areas as (

    select * from {{ ref('int_indicator_area_periods') }}

),

values_long as (

    {%- for indicator, col, source, reason in counts %}
    select area_level, area_code, area_name_zh, prefecture_code, prefecture_name_zh, period_type, period_start,
        period_end, period_days, days_covered, counties,
        '{{ indicator }}' as indicator_id,
        {{ col }}::numeric as numerator, null::numeric as denominator, {{ col }}::numeric as value,
        {{ "round(" ~ projected[indicator] ~ ", 2)" if indicator in projected else "null::numeric" }} as value_projected,
        {{ indicator ~ "_log::numeric" if indicator in ('loans', 'visits') else "null::numeric" }} as value_from_logs,
        {{ indicator ~ "_form::numeric" if indicator in ('loans', 'visits') else "null::numeric" }} as value_from_forms,
        case when {{ col }} is not null then {{ source }} end as value_source,
        case when {{ col }} is null then '{{ reason }}' end as not_computable_reason
    from areas
    union all
    {%- endfor %}
    {%- for indicator, multiplier, source, _ in ratios %}
    select area_level, area_code, area_name_zh, prefecture_code, prefecture_name_zh, period_type, period_start,
        period_end, period_days, days_covered, counties,
        '{{ indicator }}',
        {{ indicator }}_num::numeric, {{ indicator }}_den::numeric,
        round({{ multiplier }} * {{ indicator }}_num::numeric / nullif({{ indicator }}_den, 0), 6),
        {% if indicator == 'new_acquisitions_per_capita' -%}
        round(new_acquisitions_per_capita_projected_num / nullif(new_acquisitions_per_capita_projected_den, 0), 6),
        {%- else -%} null::numeric, {%- endif %}
        null::numeric, null::numeric,
        case when nullif({{ indicator }}_den, 0) is not null then {{ source }} end,
        case when nullif({{ indicator }}_den, 0) is null then '{{ ratio_reasons[indicator] }}' end
    from areas
    {%- if indicator == 'rotation_branch_quarterly' %}
    where period_type <> 'month'  -- a quarterly standard: judged on quarters and years
    {%- endif %}
    union all
    {%- endfor %}
    select area_level, area_code, area_name_zh, prefecture_code, prefecture_name_zh, period_type, period_start,
        period_end, period_days, days_covered, counties,
        'service_point_village_coverage', null, null, null, null, null, null, null,
        'no feed carries the number of villages/communities (村、社区) of a county'
    from areas

),

dictionary as (

    select * from {{ ref('indicators') }}

),

targets as (

    select indicator_id, target, source as target_source
    from {{ ref('indicator_targets') }}
    where level = 'county'

),

judged as (

    select
        values_long.*,
        dictionary.name_zh as indicator_name_zh,
        dictionary.name_en as indicator_name_en,
        dictionary.family as indicator_family,
        dictionary.unit_zh,
        dictionary.direction,
        dictionary.is_annual_flow,
        values_long.days_covered >= values_long.period_days as is_complete_period,
        targets.target as annual_target,
        targets.target_source,
        case when targets.target is null or values_long.area_level <> 'county' then null
             when dictionary.is_annual_flow then round(targets.target * values_long.days_covered / 365.0, 4)
             else targets.target end as target
    from values_long
    inner join dictionary on dictionary.indicator_id = values_long.indicator_id
    left join targets on targets.indicator_id = values_long.indicator_id

),

statused as (

    select
        judged.*,
        case
            when value is null then 'not_computable'
            when target is null then 'no_target'
            when (direction = 'higher' and value >= target) or (direction = 'lower' and value <= target)
                then case when is_complete_period or not is_annual_flow then 'pass' else 'on_track' end
            else case when is_complete_period or not is_annual_flow then 'fail' else 'behind' end
        end as status
    from judged

),

ranked as (

    select
        statused.*,
        case when value is not null and area_level = 'county' then
            rank() over (partition by area_level, period_type, period_start, indicator_id, value is null
                         order by case when direction = 'lower' then -value else value end desc)
        end as rank_in_province,
        case when value is not null and area_level = 'county' then
            count(value) over (partition by area_level, period_type, period_start, indicator_id)
        end as counties_ranked_in_province,
        case when value is not null and area_level = 'county' then
            round(100 * cume_dist() over (partition by area_level, period_type, period_start, indicator_id,
                                                       value is null
                                          order by case when direction = 'lower' then -value else value end)::numeric, 1)
        end as percentile_in_province,
        case when value is not null and area_level = 'county' then
            rank() over (partition by area_level, prefecture_code, period_type, period_start, indicator_id,
                                      value is null
                         order by case when direction = 'lower' then -value else value end desc)
        end as rank_in_prefecture,
        case when value is not null and area_level = 'county' then
            round(100 * cume_dist() over (partition by area_level, prefecture_code, period_type, period_start,
                                                       indicator_id, value is null
                                          order by case when direction = 'lower' then -value else value end)::numeric, 1)
        end as percentile_in_prefecture
    from statused

),

medians as (

    select period_type, period_start, indicator_id,
        percentile_cont(0.5) within group (order by value)::numeric as county_median_value
    from statused
    where area_level = 'county' and value is not null
    group by period_type, period_start, indicator_id

)

select
    md5(concat_ws('|', ranked.area_level, ranked.area_code, ranked.period_type, ranked.period_start,
                  ranked.indicator_id)) as scorecard_key,
    ranked.area_level,
    ranked.area_code,
    ranked.area_name_zh,
    case when ranked.area_level = 'county' then ranked.area_code end as county_code,
    ranked.prefecture_code,
    ranked.prefecture_name_zh,
    ranked.period_type,
    ranked.period_start,
    ranked.period_end,
    ranked.period_days,
    ranked.days_covered,
    ranked.is_complete_period,
    ranked.counties,
    ranked.indicator_id,
    ranked.indicator_name_zh,
    ranked.indicator_name_en,
    ranked.indicator_family,
    ranked.unit_zh,
    ranked.value,
    ranked.value_projected,
    ranked.value_from_logs,
    ranked.value_from_forms,
    ranked.numerator,
    ranked.denominator,
    ranked.value_source,
    ranked.not_computable_reason,
    ranked.annual_target,
    ranked.target,
    ranked.target_source,
    ranked.status,
    ranked.rank_in_province,
    ranked.counties_ranked_in_province,
    ranked.percentile_in_province,
    ranked.rank_in_prefecture,
    ranked.percentile_in_prefecture,
    -- peers on every row, so a county director (row-level security: their county's rows only) still sees them
    prefecture_row.value as prefecture_value,
    province_row.value as province_value,
    medians.county_median_value,
    last_year.value as value_last_year,
    ranked.value - last_year.value as change_vs_last_year,
    round(100 * (ranked.value - last_year.value) / nullif(last_year.value, 0), 2) as change_pct_vs_last_year
from ranked
left join ranked as last_year
    on last_year.area_level = ranked.area_level
    and last_year.area_code = ranked.area_code
    and last_year.period_type = ranked.period_type
    and last_year.period_start = (ranked.period_start - interval '1 year')::date
    and last_year.indicator_id = ranked.indicator_id
left join ranked as prefecture_row
    on prefecture_row.area_level = 'prefecture'
    and prefecture_row.area_code = ranked.prefecture_code
    and prefecture_row.period_type = ranked.period_type
    and prefecture_row.period_start = ranked.period_start
    and prefecture_row.indicator_id = ranked.indicator_id
left join ranked as province_row
    on province_row.area_level = 'province'
    and province_row.period_type = ranked.period_type
    and province_row.period_start = ranked.period_start
    and province_row.indicator_id = ranked.indicator_id
left join medians
    on medians.period_type = ranked.period_type
    and medians.period_start = ranked.period_start
    and medians.indicator_id = ranked.indicator_id
