-- Grain: one row per calendar day 2018-01-01 .. 2026-12-31 (the span of the holiday seed).
with

days as (

    select * from {{ ref('chinese_calendar_days') }}

)

select
    date_day::date as date_day,
    extract(year from date_day)::integer as year,
    extract(quarter from date_day)::integer as quarter,
    extract(month from date_day)::integer as month,
    date_trunc('month', date_day)::date as month_start,
    extract(week from date_day)::integer as iso_week,
    extract(isodow from date_day)::integer as day_of_week,
    extract(isodow from date_day) in (6, 7) as is_weekend,
    is_public_holiday::boolean as is_public_holiday,
    nullif(holiday_name_zh, '') as holiday_name_zh,
    is_workday::boolean as is_workday,
    is_school_vacation::boolean as is_school_vacation
from days
