-- Grain: one library x reporting period (period_type month|quarter|year, starting month_start),
-- from the statistics forms of service points without an ILS. Null = not reported / not applicable.
with

reports as (

    select * from {{ ref('stg_raw__monthly_reports') }}

),

library_versions as (

    select * from {{ ref('int_libraries_versioned') }}

)

select
    reports.report_key,
    coalesce(library_versions.county_code, reports.county_code) as county_code,
    coalesce(library_versions.prefecture_code, left(reports.county_code, 4) || '00') as prefecture_code,
    reports.library_code,
    library_versions.level as library_level,
    reports.period_type,
    date_trunc('month', reports.period_start)::date as month_start,
    reports.visits,
    reports.registered_readers,
    reports.active_readers,
    reports.loans,
    reports.holdings,
    reports.new_volumes,
    reports.processing_volume,
    reports.activities,
    reports.participants,
    reports.opening_hours,
    reports.trainings
from reports
left join library_versions
    on library_versions.library_code = reports.library_code
    and reports.period_start >= library_versions.valid_from
    and (library_versions.valid_to is null or reports.period_start < library_versions.valid_to)
