-- Grain: delivering county x day (the county of the delivering system, the event's local date;
-- quarantined rows by the day in their file name). Nothing is silently dropped:
-- raw_rows = fact_rows + duplicates_removed (tests/assert_circulation_reconciles.sql);
-- quarantined rows never reached raw and are reported beside them for the data steward.
with

raw_rows as (

    select
        county_code,
        event_date as date_day,
        count(*) as raw_rows,
        count(*) filter (where delivery_rank > 1) as duplicates_removed
    from {{ ref('stg_raw__circulation_event_rows') }}
    group by county_code, event_date

),

fact_rows as (

    select
        delivered.county_code,
        facts.event_date as date_day,
        count(*) as fact_rows
    from {{ ref('fct_circulation_events') }} as facts
    inner join {{ ref('stg_raw__circulation_events') }} as delivered on delivered.event_id = facts.event_id
    group by delivered.county_code, facts.event_date

),

quarantined as (

    select
        county_code,
        delivery_date as date_day,
        count(*) as quarantined
    from {{ ref('stg_quarantine__rejected_rows') }}
    where feed = 'circulation'
    group by county_code, delivery_date

),

county_days as (

    select county_code, date_day from raw_rows
    union
    select county_code, date_day from fact_rows
    union
    select county_code, date_day from quarantined

)

select
    county_days.county_code,
    county_days.date_day,
    coalesce(raw_rows.raw_rows, 0) as raw_rows,
    coalesce(raw_rows.duplicates_removed, 0) as duplicates_removed,
    coalesce(quarantined.quarantined, 0) as quarantined,
    coalesce(fact_rows.fact_rows, 0) as fact_rows,
    coalesce(raw_rows.raw_rows, 0) = coalesce(fact_rows.fact_rows, 0) + coalesce(raw_rows.duplicates_removed, 0)
        as is_reconciled
from county_days
left join raw_rows using (county_code, date_day)
left join fact_rows using (county_code, date_day)
left join quarantined using (county_code, date_day)
