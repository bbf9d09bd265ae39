-- Grain: owning library x month x CLC top class x audience (children|adult), from the holdings history
-- start (var holdings_history_start) to the month of the latest holdings snapshot. items_held counts
-- items at the month's end (acquired on or before it, not withdrawn by then); items acquired before the
-- history start form the opening stock; items_added / items_withdrawn count changes within the month.
with

history as (

    select
        date_trunc('month', '{{ var("holdings_history_start") }}'::date)::date as first_month,
        date_trunc('month', max(snapshot_date))::date as last_month
    from {{ ref('stg_raw__holdings_items') }}

),

items as (

    select
        holdings.owning_library as library_code,
        holdings.clc_top_class,
        case when holdings.is_children then 'children' else 'adult' end as audience,
        greatest(date_trunc('month', coalesce(holdings.acquired_on, history.first_month))::date, history.first_month)
            as held_from_month,
        coalesce(holdings.acquired_on >= history.first_month, false) as added_in_history,
        date_trunc('month', holdings.withdrawn_on)::date as withdrawn_month
    from {{ ref('stg_raw__holdings_items') }} as holdings
    cross join history
    where holdings.withdrawn_on is null or holdings.withdrawn_on >= history.first_month

),

changes as (

    select library_code, clc_top_class, audience, held_from_month as month_start,
        1 as held_change, case when added_in_history then 1 else 0 end as added, 0 as withdrawn
    from items
    union all
    select library_code, clc_top_class, audience, withdrawn_month,
        -1, 0, 1
    from items
    where withdrawn_month is not null

),

monthly_changes as (

    select
        library_code, clc_top_class, audience, month_start,
        sum(held_change) as held_change,
        sum(added) as items_added,
        sum(withdrawn) as items_withdrawn
    from changes
    group by library_code, clc_top_class, audience, month_start

),

grid as (

    select groups.library_code, groups.clc_top_class, groups.audience, months.month_start::date as month_start
    from (
        select library_code, clc_top_class, audience, min(month_start) as first_month
        from monthly_changes
        group by library_code, clc_top_class, audience
    ) as groups
    cross join history
    cross join lateral generate_series(groups.first_month, history.last_month, interval '1 month') as months (month_start)

),

balances as (

    select
        grid.month_start,
        grid.library_code,
        grid.clc_top_class,
        grid.audience,
        sum(coalesce(monthly_changes.held_change, 0)) over (
            partition by grid.library_code, grid.clc_top_class, grid.audience
            order by grid.month_start
            rows between unbounded preceding and current row
        ) as items_held,
        coalesce(monthly_changes.items_added, 0) as items_added,
        coalesce(monthly_changes.items_withdrawn, 0) as items_withdrawn
    from grid
    left join monthly_changes
        on monthly_changes.library_code = grid.library_code
        -- coalesce, not `is not distinct from`: equality lets PostgreSQL hash-join
        and coalesce(monthly_changes.clc_top_class, '-') = coalesce(grid.clc_top_class, '-')
        and monthly_changes.audience = grid.audience
        and monthly_changes.month_start = grid.month_start

),

library_versions as (

    select * from {{ ref('int_libraries_versioned') }}

),

classes as (

    select * from {{ ref('clc_top_classes') }}

)

select
    balances.month_start,
    balances.library_code,
    coalesce(library_versions.county_code, left(balances.library_code, 6)) as county_code,
    coalesce(library_versions.prefecture_code, left(balances.library_code, 4) || '00') as prefecture_code,
    balances.clc_top_class,
    coalesce(classes.clc_top_class_zh, '未分类') as clc_top_class_zh,
    balances.audience,
    balances.items_held::bigint as items_held,
    balances.items_added::bigint as items_added,
    balances.items_withdrawn::bigint as items_withdrawn
from balances
left join library_versions
    on library_versions.library_code = balances.library_code
    and balances.month_start >= date_trunc('month', library_versions.valid_from)
    and (library_versions.valid_to is null or balances.month_start < date_trunc('month', library_versions.valid_to))
left join classes on classes.clc_top_class = balances.clc_top_class
