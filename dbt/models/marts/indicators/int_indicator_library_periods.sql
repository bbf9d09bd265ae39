-- Grain: one library x county it belonged to during the period x reporting period. A library that moved to
-- another county during the period has one row per county: flows (loans, visits, forms, activities) count
-- where the fact was attributed on its date; stocks and registry figures (volumes held, floor area…) sit on the
-- row of the version valid at the period's end (is_period_end_version), null on the other.
-- Every measure is kept twice where two feeds carry it — from transaction logs (_log) and from the statistics
-- form (_form) — and once as used (_used) with its source: a library that is on a log feed (its county
-- delivers that feed, it is not a form-only point) is counted from the log, otherwise from its form.
-- Null means not reported / not computable, never zero.
{{ config(schema='intermediate', materialized='table', contract={'enforced': false}) }}

with

periods as (

    select * from {{ ref('int_indicator_periods') }}

),

library_periods as (

    -- the library's last version in each county it belonged to during the period
    select distinct on (periods.period_type, periods.period_start, libraries.library_code, libraries.county_code)
        periods.period_type,
        periods.kind_rank,
        periods.period_start,
        periods.period_end,
        periods.period_days,
        libraries.*,
        versions.source_system,
        libraries.valid_from = max(libraries.valid_from) over (
            partition by periods.period_type, periods.period_start, libraries.library_code
        ) as is_period_end_version
    from periods
    inner join {{ ref('dim_library') }} as libraries
        on libraries.valid_from < periods.period_end
        and (libraries.valid_to is null or libraries.valid_to > periods.period_start)
    inner join {{ ref('int_libraries_versioned') }} as versions
        on versions.library_version_key = libraries.library_version_key
    order by periods.period_type, periods.period_start, libraries.library_code, libraries.county_code,
        libraries.valid_from desc

),

-- which log feeds reach each county / library at all
circulation_spans as (

    select county_code, min(date_day) as first_day, max(date_day) as last_day
    from {{ ref('fct_library_daily') }}
    where loans + returns + renewals > 0
    group by county_code

),

gate_spans as (

    select library_code, min(date_day) as first_day, max(date_day) as last_day
    from {{ ref('fct_library_daily') }}
    where visits is not null
    group by library_code

),

activity_spans as (

    select county_code, min(activity_date) as first_day, max(activity_date) as last_day
    from {{ ref('fct_activities') }}
    group by county_code

),

holdings_libraries as (

    select distinct owning_library as library_code from {{ ref('stg_raw__holdings_items') }}

),

daily as (

    select
        periods.period_type, periods.period_start, daily.library_code, daily.county_code,
        sum(daily.loans) as loans, sum(daily.returns) as returns, sum(daily.visits) as visits
    from {{ ref('fct_library_daily') }} as daily
    inner join periods on daily.date_day >= periods.period_start and daily.date_day < periods.period_end
    group by 1, 2, 3, 4

),

form_periods as (

    select
        reports.*,
        (reports.month_start + case reports.period_type when 'year' then interval '1 year'
                                                        when 'quarter' then interval '3 months'
                                                        else interval '1 month' end)::date as form_end,
        -- the log spans: where a log covers any day of the form's period the log is used; a form for a period
        -- no log reaches (e.g. the months before a county's ILS went live) adds to the log's figures
        circulation_spans.first_day as circulation_first_day, circulation_spans.last_day as circulation_last_day,
        gate_spans.first_day as gate_first_day, gate_spans.last_day as gate_last_day,
        activity_spans.first_day as activity_first_day, activity_spans.last_day as activity_last_day
    from {{ ref('fct_monthly_reports') }} as reports
    left join circulation_spans on circulation_spans.county_code = reports.county_code
    left join gate_spans on gate_spans.library_code = reports.library_code
    left join activity_spans on activity_spans.county_code = reports.county_code

),

forms as (

    -- forms whose whole period lies inside the reporting period: months add up to quarters and years;
    -- stocks (holdings, registered readers) come from the latest form; active readers only from a form of
    -- exactly this period (distinct readers do not add up across months). *_off_log: the part of a flow
    -- reported for days no log covers.
    select
        periods.period_type, periods.period_start, reports.library_code, reports.county_code,
        count(*) as forms,
        sum(reports.form_end - reports.month_start) as form_days,
        sum(reports.form_end - reports.month_start) filter (
            where reports.circulation_first_day is null or reports.form_end <= reports.circulation_first_day
               or reports.month_start > reports.circulation_last_day) as form_days_off_log,
        sum(reports.visits) as visits,
        sum(reports.visits) filter (
            where reports.gate_first_day is null or reports.form_end <= reports.gate_first_day
               or reports.month_start > reports.gate_last_day) as visits_off_log,
        sum(reports.loans) as loans,
        sum(reports.loans) filter (
            where reports.circulation_first_day is null or reports.form_end <= reports.circulation_first_day
               or reports.month_start > reports.circulation_last_day) as loans_off_log,
        sum(reports.new_volumes) as new_volumes,
        sum(reports.activities) as activities,
        sum(reports.activities) filter (
            where reports.activity_first_day is null or reports.form_end <= reports.activity_first_day
               or reports.month_start > reports.activity_last_day) as activities_off_log,
        sum(reports.participants) as participants,
        sum(reports.trainings) as trainings,
        (array_agg(reports.holdings order by reports.month_start desc)
            filter (where reports.holdings is not null))[1] as holdings,
        (array_agg(reports.registered_readers order by reports.month_start desc)
            filter (where reports.registered_readers is not null))[1] as registered_readers,
        max(reports.active_readers) filter (where reports.period_type = periods.period_type) as active_readers
    from form_periods as reports
    inner join periods
        on reports.month_start >= periods.period_start and reports.form_end <= periods.period_end
    group by 1, 2, 3, 4

),

items as (

    select owning_library as library_code, item_barcode, bib_id, acquired_on, withdrawn_on, is_children
    from {{ ref('stg_raw__holdings_items') }}

),

held_items as (

    select periods.period_type, periods.period_start, items.library_code, items.item_barcode, items.bib_id
    from periods
    inner join items
        on (items.acquired_on is null or items.acquired_on < periods.period_end)
        and (items.withdrawn_on is null or items.withdrawn_on >= periods.period_end)

),

lent_items as (

    select distinct periods.period_type, periods.period_start, loans.item_barcode
    from {{ ref('fct_loans') }} as loans
    inner join periods on loans.loan_date >= periods.period_start and loans.loan_date < periods.period_end

),

stock as (

    select
        held_items.period_type, held_items.period_start, held_items.library_code as end_library_code,
        count(*) as volumes_held,
        count(distinct held_items.bib_id) as titles_held,
        count(*) filter (where lent_items.item_barcode is null) as volumes_not_lent
    from held_items
    left join lent_items
        on lent_items.period_type = held_items.period_type
        and lent_items.period_start = held_items.period_start
        and lent_items.item_barcode = held_items.item_barcode
    group by 1, 2, 3

),

first_copies as (

    select library_code, bib_id, min(acquired_on) as first_acquired_on
    from items
    group by 1, 2

),

acquisitions as (

    select
        periods.period_type, periods.period_start, items.library_code as end_library_code,
        count(*) as new_volumes,
        count(*) filter (where items.is_children) as new_children_volumes
    from items
    inner join periods on items.acquired_on >= periods.period_start and items.acquired_on < periods.period_end
    group by 1, 2, 3

),

new_titles as (

    select periods.period_type, periods.period_start, first_copies.library_code as end_library_code,
        count(*) as new_titles
    from first_copies
    inner join periods
        on first_copies.first_acquired_on >= periods.period_start
        and first_copies.first_acquired_on < periods.period_end
    group by 1, 2, 3

),

activities as (

    select
        periods.period_type, periods.period_start, activities.library_code, activities.county_code,
        count(*) filter (where activities.activity_type <> 'training') as reader_activities,
        count(*) filter (where activities.activity_type = 'lecture') as lectures,
        count(*) filter (where activities.activity_type = 'exhibition') as exhibitions,
        count(*) filter (where activities.activity_type = 'reading_promotion' and activities.is_joint)
            as joint_reading_promotions,
        sum(activities.participants) as participants
    from {{ ref('fct_activities') }} as activities
    inner join periods
        on activities.activity_date >= periods.period_start and activities.activity_date < periods.period_end
    group by 1, 2, 3, 4

),

rotations_in as (

    -- shipments a library received from its parent in the period, and in how many distinct months / quarters
    select
        periods.period_type, periods.period_start, rotations.to_library as end_library_code,
        count(*) as rotations_received,
        count(distinct date_trunc('month', rotations.shipped_on)) as months_with_rotation,
        count(distinct date_trunc('quarter', rotations.shipped_on)) as quarters_with_rotation
    from {{ ref('fct_rotations') }} as rotations
    inner join periods on rotations.shipped_on >= periods.period_start and rotations.shipped_on < periods.period_end
    group by 1, 2, 3

),

flags as (

    select
        library_periods.*,
        coalesce(library_periods.source_system, '') <> 'form' and circulation_spans.county_code is not null
            and circulation_spans.first_day < library_periods.period_end
            and circulation_spans.last_day >= library_periods.period_start as on_circulation_log,
        greatest(0, least(library_periods.period_end, circulation_spans.last_day + 1)
            - greatest(library_periods.period_start, circulation_spans.first_day)) as circulation_days_covered,
        coalesce(gate_spans.first_day < library_periods.period_end
                 and gate_spans.last_day >= library_periods.period_start, false) as on_gate_counts,
        case when library_periods.is_period_end_version then library_periods.library_code end as end_library_code,
        holdings_libraries.library_code is not null as has_holdings,
        holdings_libraries.library_code is not null and library_periods.is_period_end_version as on_holdings,
        coalesce(library_periods.source_system, '') <> 'form'
            and coalesce(activity_spans.first_day < library_periods.period_end
                         and activity_spans.last_day >= library_periods.period_start, false) as on_activity_log
    from library_periods
    left join circulation_spans on circulation_spans.county_code = library_periods.county_code
    left join gate_spans on gate_spans.library_code = library_periods.library_code
    left join holdings_libraries on holdings_libraries.library_code = library_periods.library_code
    left join activity_spans on activity_spans.county_code = library_periods.county_code

)

select
    flags.period_type,
    flags.kind_rank,
    flags.period_start,
    flags.period_end,
    flags.period_days,
    flags.library_code,
    flags.library_version_key,
    flags.name_zh,
    flags.level,
    flags.level_zh,
    flags.parent_code,
    flags.county_code,
    flags.county_name_zh,
    flags.prefecture_code,
    flags.prefecture_name_zh,
    flags.population_served,
    flags.floor_area_m2,
    flags.seats,
    flags.children_seats,
    flags.networked_pcs,
    flags.weekly_open_hours,
    flags.staff,
    flags.periodicals,
    flags.valid_from,
    flags.valid_to,
    flags.is_period_end_version,
    flags.on_circulation_log,
    flags.circulation_days_covered,
    flags.on_gate_counts,
    flags.on_holdings,
    flags.on_activity_log,
    coalesce(forms.forms, 0) as forms_filed,
    -- the days this library's figures cover: its county's circulation span when it is on the log, else its forms'
    case when flags.on_circulation_log
             then least(flags.circulation_days_covered + coalesce(forms.form_days_off_log, 0), flags.period_days)
         else least(coalesce(forms.form_days, 0), flags.period_days) end::integer as days_covered,

    -- loans
    case when flags.on_circulation_log then coalesce(daily.loans, 0) end as loans_log,
    forms.loans as loans_form,
    case when flags.on_circulation_log then coalesce(daily.loans, 0) + coalesce(forms.loans_off_log, 0)
         else forms.loans end as loans_used,
    case when flags.on_circulation_log and forms.loans_off_log is not null then 'forms+logs'
         when flags.on_circulation_log then 'logs' when forms.loans is not null then 'forms' end as loans_source,
    case when flags.on_circulation_log then coalesce(daily.returns, 0) end as returns_log,

    -- visits
    case when flags.on_gate_counts then coalesce(daily.visits, 0) end as visits_log,
    forms.visits as visits_form,
    case when flags.on_gate_counts then coalesce(daily.visits, 0) + coalesce(forms.visits_off_log, 0)
         else forms.visits end as visits_used,
    case when flags.on_gate_counts and forms.visits_off_log is not null then 'forms+logs'
         when flags.on_gate_counts then 'logs' when forms.visits is not null then 'forms' end as visits_source,

    -- stock
    case when flags.on_holdings then coalesce(stock.volumes_held, 0) end as volumes_held_log,
    forms.holdings as volumes_held_form,
    -- a library with item-level holdings is counted from them, once, on its period-end row
    case when flags.on_holdings then coalesce(stock.volumes_held, 0) when not flags.has_holdings then forms.holdings
    end as volumes_held_used,
    case when flags.on_holdings then 'holdings' when not flags.has_holdings and forms.holdings is not null
         then 'forms' end as volumes_held_source,
    case when flags.on_holdings then coalesce(stock.titles_held, 0) end as titles_held,
    case when flags.on_holdings and flags.on_circulation_log then coalesce(stock.volumes_not_lent, 0) end
        as volumes_not_lent,

    -- acquisitions
    case when flags.on_holdings then coalesce(acquisitions.new_volumes, 0) end as new_volumes_log,
    forms.new_volumes as new_volumes_form,
    case when flags.on_holdings then coalesce(acquisitions.new_volumes, 0)
         when not flags.has_holdings then forms.new_volumes end as new_volumes_used,
    case when flags.on_holdings then 'holdings' when not flags.has_holdings and forms.new_volumes is not null
         then 'forms' end as new_volumes_source,
    case when flags.on_holdings then coalesce(acquisitions.new_children_volumes, 0) end as new_children_volumes,
    case when flags.on_holdings then coalesce(new_titles.new_titles, 0) end as new_titles,

    -- activities and trainings
    case when flags.on_activity_log then coalesce(activities.reader_activities, 0) end as reader_activities_log,
    forms.activities as reader_activities_form,
    case when flags.on_activity_log
             then coalesce(activities.reader_activities, 0) + coalesce(forms.activities_off_log, 0)
         else forms.activities end as reader_activities_used,
    case when flags.on_activity_log and forms.activities_off_log is not null then 'forms+logs'
         when flags.on_activity_log then 'logs' when forms.activities is not null then 'forms' end
        as reader_activities_source,
    case when flags.on_activity_log then coalesce(activities.lectures, 0) end as lectures,
    case when flags.on_activity_log then coalesce(activities.exhibitions, 0) end as exhibitions,
    case when flags.on_activity_log then coalesce(activities.joint_reading_promotions, 0) end
        as joint_reading_promotions,
    forms.trainings as staff_trainings,

    -- readers (forms only: no feed carries ILS reader registrations)
    forms.registered_readers,
    forms.active_readers as active_readers_form,

    -- rotations received
    coalesce(rotations_in.rotations_received, 0) as rotations_received,
    coalesce(rotations_in.months_with_rotation, 0) as months_with_rotation,
    coalesce(rotations_in.quarters_with_rotation, 0) as quarters_with_rotation
from flags
left join daily using (period_type, period_start, library_code, county_code)
left join forms using (period_type, period_start, library_code, county_code)
left join activities using (period_type, period_start, library_code, county_code)
-- stocks, acquisitions and rotations belong to the library as it stood at the period's end (end_library_code)
left join stock using (period_type, period_start, end_library_code)
left join acquisitions using (period_type, period_start, end_library_code)
left join new_titles using (period_type, period_start, end_library_code)
left join rotations_in using (period_type, period_start, end_library_code)
