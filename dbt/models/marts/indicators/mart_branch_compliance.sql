-- Grain: one 分馆 or 服务点 x calendar year x standard (seed 003) that sets a target for its level.
-- Value, target, status and the gap in plain units (e.g. 差 2 台). Annual flows (new volumes, activities,
-- trainings) are judged pro rata while the year's data is incomplete (on_track/behind); a value no feed carries
-- for this library is not computable, with the reason — never 0.
{#- (indicator, value expression, source expression, reason when null) -#}
{%- set measures = [
    ('floor_area_m2', 'floor_area_m2', "'registry'", 'floor area missing in the registry'),
    ('networked_pcs', 'networked_pcs', "'registry'", 'networked PCs missing in the registry'),
    ('seats', 'seats', "'registry'", 'seats missing in the registry'),
    ('children_seats', 'children_seats', "'registry'", 'children seats missing in the registry'),
    ('periodicals', 'periodicals', "'registry'", 'periodicals missing in the registry'),
    ('weekly_open_hours', 'weekly_open_hours', "'registry'", 'opening hours missing in the registry'),
    ('staff', 'staff', "'registry'", 'staff missing in the registry'),
    ('volumes_held', 'volumes_held_used', 'volumes_held_source', 'no holdings file and no statistics form'),
    ('titles_held', 'titles_held', "'holdings'", 'titles need item-level holdings; the statistics form reports volumes only'),
    ('new_volumes', 'new_volumes_used', 'new_volumes_source', 'no holdings file and no statistics form'),
    ('new_titles', 'new_titles', "'holdings'", 'titles need item-level holdings; the statistics form reports volumes only'),
    ('children_new_share', 'round(100.0 * new_children_volumes / nullif(new_volumes_log, 0), 2)', "'holdings'",
        'no item acquired this year, or no item-level holdings'),
    ('reader_activities', 'reader_activities_used', 'reader_activities_source', 'no activity log and no statistics form'),
    ('staff_trainings', 'staff_trainings', "'forms'",
        'trainings are reported only on the statistics form, which this library does not file'),
] %}

with

library_years as (

    select * from {{ ref('int_indicator_library_periods') }}
    where period_type = 'year' and level in ('branch', 'service_point')

),

flows as (

    -- a library that moved county during the year: its flows from every county it was in
    select library_code, period_start,
        sum(new_volumes_used) as new_volumes_used, sum(reader_activities_used) as reader_activities_used,
        sum(staff_trainings) as staff_trainings, max(days_covered) as days_covered
    from library_years
    group by library_code, period_start

),

libraries as (

    select
        library_years.library_code, library_years.library_version_key, library_years.name_zh,
        library_years.level, library_years.level_zh, library_years.parent_code, library_years.county_code,
        library_years.county_name_zh, library_years.prefecture_code, library_years.period_start,
        library_years.period_end, library_years.period_days, flows.days_covered, library_years.valid_from,
        library_years.valid_to, library_years.floor_area_m2, library_years.networked_pcs, library_years.seats,
        library_years.children_seats, library_years.periodicals, library_years.weekly_open_hours,
        library_years.staff, library_years.volumes_held_used, library_years.volumes_held_source,
        library_years.titles_held, flows.new_volumes_used, library_years.new_volumes_source,
        library_years.new_titles, library_years.new_children_volumes, library_years.new_volumes_log,
        flows.reader_activities_used, library_years.reader_activities_source, flows.staff_trainings
    from library_years
    inner join flows using (library_code, period_start)
    where library_years.is_period_end_version

),

values_long as (

    {%- for indicator, expr, source, reason in measures %}
    select
        library_code, library_version_key, name_zh, level, level_zh, parent_code, county_code, county_name_zh,
        prefecture_code, period_start, period_end, period_days, days_covered, valid_from, valid_to,
        '{{ indicator }}' as indicator_id,
        ({{ expr }})::numeric as value,
        case when ({{ expr }}) is not null then {{ source }} end as value_source,
        case when ({{ expr }}) is null then '{{ reason }}' end as not_computable_reason
    from libraries
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

judged as (

    select
        values_long.*,
        dictionary.name_zh as indicator_name_zh,
        dictionary.name_en as indicator_name_en,
        dictionary.unit_zh,
        dictionary.is_annual_flow,
        targets.target as annual_target,
        targets.source as target_source,
        case when dictionary.is_annual_flow
             then round(targets.target * least(values_long.days_covered, values_long.period_days) / 365.0, 4)
             else targets.target end as target,
        values_long.days_covered >= values_long.period_days as is_complete_year
    from values_long
    inner join {{ ref('indicators') }} as dictionary on dictionary.indicator_id = values_long.indicator_id
    inner join {{ ref('indicator_targets') }} as targets
        on targets.indicator_id = values_long.indicator_id and targets.level = values_long.level

)

select
    md5(concat_ws('|', library_code, period_start, indicator_id)) as compliance_key,
    library_code,
    library_version_key,
    name_zh as library_name_zh,
    level as library_level,
    level_zh as library_level_zh,
    parent_code,
    county_code,
    county_name_zh,
    prefecture_code,
    extract(year from period_start)::integer as year,
    days_covered,
    is_complete_year,
    indicator_id,
    indicator_name_zh,
    indicator_name_en,
    unit_zh,
    value,
    value_source,
    not_computable_reason,
    annual_target,
    target,
    target_source,
    case
        when value is null then 'not_computable'
        when target is null or target = 0 and days_covered = 0 then 'not_computable'
        when value >= target then case when is_annual_flow and not is_complete_year then 'on_track' else 'pass' end
        else case when is_annual_flow and not is_complete_year then 'behind' else 'fail' end
    end as status,
    case when value < target then round(target - value, 2) end as gap,
    case when value < target then '差 ' || trim_scale(round(target - value, 2))::text || ' ' || unit_zh
         when value is not null then '达标' end as gap_text_zh
from judged
