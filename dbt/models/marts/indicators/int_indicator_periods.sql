-- Grain: one reporting period (month, quarter, year) from the first to the last day any fact covers.
-- Intermediate: the calendar the indicator marts are computed on.
{{ config(schema='intermediate', materialized='table', contract={'enforced': false}) }}

with

data_days as (

    select min(date_day) as first_day, max(date_day) as last_day from {{ ref('fct_library_daily') }}
    union all
    select
        min(month_start),
        max((month_start + case period_type when 'year' then interval '1 year'
                                            when 'quarter' then interval '3 months'
                                            else interval '1 month' end)::date - 1)
    from {{ ref('fct_monthly_reports') }}
    union all
    select min(activity_date), max(activity_date) from {{ ref('fct_activities') }}
    union all
    select min(shipped_on), max(shipped_on) from {{ ref('fct_rotations') }}

),

bounds as (

    select min(first_day) as first_day, max(last_day) as last_day from data_days

),

kinds (period_type, step, kind_rank) as (

    values ('month', interval '1 month', 1), ('quarter', interval '3 months', 2), ('year', interval '1 year', 3)

)

select
    kinds.period_type,
    kinds.kind_rank,
    starts.period_start::date as period_start,
    (starts.period_start + kinds.step)::date as period_end,
    ((starts.period_start + kinds.step)::date - starts.period_start::date) as period_days,
    case kinds.period_type
        when 'month' then to_char(starts.period_start, 'YYYY-MM')
        when 'quarter' then to_char(starts.period_start, 'YYYY-"Q"Q')
        else to_char(starts.period_start, 'YYYY')
    end as period_label
from bounds
cross join kinds
cross join lateral generate_series(
    date_trunc(kinds.period_type, bounds.first_day), bounds.last_day, kinds.step
) as starts (period_start)
where bounds.first_day is not null
