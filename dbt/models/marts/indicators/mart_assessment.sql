-- Grain: one county library (县级馆, the 总馆 of its 总分馆 system) x assessment year x indicator of the
-- assessment points table (seed assessment_points; the official tables change by round and region, so the
-- round is a var). Value (system-wide, from the county scorecard), points, total, grade, and the evidence: the
-- counts and the source batches (raw.ingest_batches) behind each value. While the year is incomplete, annual
-- flows are annualised from the days covered and the row says so (is_provisional). Indicators no feed carries
-- (the digital-library promotion indicators of seed 004) are listed as not computable, with the reason.
{%- set round_ = var('assessment_round', 'demo-R7') %}

with

points_table as (

    select * from {{ ref('assessment_points') }} where assessment_round = '{{ round_ }}'

),

indicators as (

    select distinct points_table.indicator_id, dictionary.name_zh, dictionary.name_en, dictionary.family,
        dictionary.unit_zh, dictionary.is_annual_flow, dictionary.data_source,
        max(points_table.max_points) over (partition by points_table.indicator_id) as max_points
    from points_table
    inner join {{ ref('indicators') }} as dictionary on dictionary.indicator_id = points_table.indicator_id

),

county_libraries as (

    select * from {{ ref('int_indicator_library_periods') }}
    where period_type = 'year' and level = 'county' and is_period_end_version

),

scorecard as (

    select * from {{ ref('mart_county_scorecard') }}
    where area_level = 'county' and period_type = 'year'

),

valued as (

    select
        county_libraries.library_code,
        county_libraries.name_zh as library_name_zh,
        county_libraries.county_code,
        county_libraries.county_name_zh,
        county_libraries.prefecture_code,
        county_libraries.period_start,
        coalesce(scorecard.days_covered, county_libraries.days_covered) as days_covered,
        county_libraries.period_days,
        indicators.*,
        case when indicators.indicator_id = 'weekly_open_hours' then county_libraries.weekly_open_hours
             else scorecard.value end as value,
        case when indicators.indicator_id = 'weekly_open_hours' then
                 case when county_libraries.weekly_open_hours is not null then 'registry' end
             else scorecard.value_source end as value_source,
        case when indicators.data_source = 'not_in_feeds'
                 then 'no feed carries it: scored from the assessment evidence form (评估自评材料)'
             when indicators.indicator_id = 'weekly_open_hours' and county_libraries.weekly_open_hours is null
                 then 'opening hours missing in the registry'
             when indicators.indicator_id <> 'weekly_open_hours'
                 then coalesce(scorecard.not_computable_reason,
                               case when scorecard.indicator_id is null then 'no data for this county and year' end)
        end as not_computable_reason,
        scorecard.numerator,
        scorecard.denominator,
        scorecard.value_projected
    from county_libraries
    cross join indicators
    left join scorecard
        on scorecard.county_code = county_libraries.county_code
        and scorecard.period_start = county_libraries.period_start
        and scorecard.indicator_id = indicators.indicator_id

),

annualised as materialized (  -- materialized: the points lookup reads a plain column

    select
        valued.*,
        valued.days_covered < valued.period_days as is_provisional,
        case when valued.value is null then null
             when valued.is_annual_flow and valued.days_covered < valued.period_days
                 then valued.value_projected
             else valued.value end as value_for_points
    from valued

),

steps_reached as (

    select annualised.library_code, annualised.period_start, annualised.indicator_id,
        max(points_table.points) as step_points
    from annualised
    inner join points_table
        on points_table.indicator_id = annualised.indicator_id
        and annualised.value_for_points >= points_table.min_value
    group by 1, 2, 3

),

scored as materialized (

    select annualised.*, steps_reached.step_points
    from annualised
    left join steps_reached using (library_code, period_start, indicator_id)

),

totals as (

    select
        scored.*,
        case when value_for_points is not null then coalesce(step_points, 0) end as points,
        sum(case when value_for_points is not null then coalesce(step_points, 0) end)
            over (partition by library_code, period_start) as total_points,
        sum(case when value_for_points is not null then max_points end)
            over (partition by library_code, period_start) as max_points_computable,
        count(value_for_points) over (partition by library_code, period_start) as indicators_computable,
        count(*) over (partition by library_code, period_start) as indicators_listed
    from scored

),

graded as (

    select
        totals.*,
        grades.grade,
        grades.grade_zh
    from totals
    left join lateral (
        select grade, grade_zh from {{ ref('assessment_grades') }} as g
        where g.assessment_round = '{{ round_ }}'
          and totals.total_points >= g.min_share_of_max_points * totals.max_points_computable
        order by g.grade
        limit 1
    ) as grades on true

),

-- evidence: the rows and delivery batches behind each figure, per county and year
batches as (

    select 'logs' as evidence_kind, county_code, date_trunc('year', event_date)::date as period_start,
        count(*) filter (where event_type = 'loan') as evidence_rows, _batch_id
    from {{ ref('fct_circulation_events') }}
    group by 2, 3, 5
    union all
    select 'gate', county_code, date_trunc('year', visit_date)::date, count(*), _batch_id
    from {{ ref('stg_raw__visitor_counts') }}
    group by 2, 3, 5
    union all
    select 'forms', county_code, date_trunc('year', period_start)::date, count(*), _batch_id
    from {{ ref('stg_raw__monthly_reports') }}
    group by 2, 3, 5
    union all
    select 'activities', county_code, date_trunc('year', activity_date)::date, count(*), _batch_id
    from {{ ref('stg_raw__activities') }}
    group by 2, 3, 5
    union all
    select 'holdings', county_code, null::date, count(*), _batch_id
    from {{ ref('stg_raw__holdings_items') }}
    group by 2, 3, 5

),

evidence as (

    select evidence_kind, county_code, period_start, sum(evidence_rows) as evidence_rows,
        count(*) as evidence_batches, string_agg(_batch_id, ',' order by _batch_id) as evidence_batch_ids
    from batches
    group by 1, 2, 3

),

evidence_needed (indicator_id, evidence_kind) as (

    values ('loans', 'logs'), ('loans', 'forms'), ('visits', 'gate'), ('visits', 'forms'),
           ('holdings_per_capita', 'holdings'), ('holdings_per_capita', 'forms'),
           ('new_acquisitions_per_capita', 'holdings'), ('new_acquisitions_per_capita', 'forms'),
           ('reader_activities', 'activities'), ('reader_activities', 'forms')

),

evidence_per_indicator as (

    select
        graded.library_code, graded.period_start, graded.indicator_id,
        string_agg(evidence.evidence_kind || ': ' || evidence.evidence_rows || ' rows in '
                   || evidence.evidence_batches || ' batches', '; ' order by evidence.evidence_kind) as evidence,
        string_agg(evidence.evidence_batch_ids, ',' order by evidence.evidence_kind) as evidence_batch_ids
    from graded
    inner join evidence_needed on evidence_needed.indicator_id = graded.indicator_id
    inner join evidence
        on evidence.evidence_kind = evidence_needed.evidence_kind
        and evidence.county_code = graded.county_code
        and (evidence.period_start = graded.period_start or evidence.period_start is null)
    where graded.value is not null
    group by 1, 2, 3

)

select
    md5(concat_ws('|', graded.library_code, graded.period_start, graded.indicator_id)) as assessment_key,
    '{{ round_ }}' as assessment_round,
    graded.library_code,
    graded.library_name_zh,
    graded.county_code,
    graded.county_name_zh,
    graded.prefecture_code,
    extract(year from graded.period_start)::integer as assessment_year,
    graded.days_covered::integer as days_covered,
    graded.is_provisional,
    graded.indicator_id,
    graded.name_zh as indicator_name_zh,
    graded.name_en as indicator_name_en,
    graded.family as indicator_family,
    graded.unit_zh,
    graded.value,
    graded.value_for_points,
    graded.value_source,
    graded.not_computable_reason,
    graded.numerator,
    graded.denominator,
    graded.points,
    graded.max_points,
    graded.total_points,
    graded.max_points_computable,
    graded.indicators_computable,
    graded.indicators_listed,
    graded.grade,
    graded.grade_zh,
    coalesce(evidence_per_indicator.evidence,
             case when graded.value_source = 'registry' then 'registry: the county library''s current version' end)
        as evidence,
    evidence_per_indicator.evidence_batch_ids
from graded
left join evidence_per_indicator
    on evidence_per_indicator.library_code = graded.library_code
    and evidence_per_indicator.period_start = graded.period_start
    and evidence_per_indicator.indicator_id = graded.indicator_id
