{#- Loan pairing over circulation events (`events`: a relation or CTE name with the columns of
    int_circulation_events_attributed): per item, events in time order are numbered by the loans seen so
    far (loan_seq); a return or renewal belongs to the latest loan before it. The first return after a
    loan closes it (returned anywhere: 通借通还); renewals count until that return. A return before any
    known loan closes nothing. At equal timestamps a return sorts before a loan (returned, then lent again).
    A loan's row depends only on the events from it to the item's next loan, so pairing any suffix of an
    item's events (in this order) gives the same rows for the loans in it: fct_loans re-pairs touched
    items from their last loan before the rebuilt days. -#}
{% macro pair_loans(events) -%}
    with

    pairing_events as (

        select * from {{ events }}
        where event_type in ('loan', 'return', 'renew')

    ),

    sequenced as (

        select
            *,
            sum(case when event_type = 'loan' then 1 else 0 end) over (
                partition by item_barcode
                order by event_at, case event_type when 'return' then 0 when 'loan' then 1 else 2 end, event_id
                rows between unbounded preceding and current row
            ) as loan_seq
        from pairing_events

    ),

    per_loan_return as (

        -- the first return after each loan, found by window functions over the loan's partition
        -- (no self-joins: a join of two large CTEs is planned from guessed row counts)
        select
            *,
            min(event_at) filter (where event_type = 'return') over loan_events as returned_at,
            first_value(case when event_type = 'return' then event_date end) over returns_first as returned_date,
            first_value(case when event_type = 'return' then library_code end) over returns_first as return_library_code,
            first_value(case when event_type = 'return' then _loaded_at end) over returns_first as return_loaded_at
        from sequenced
        window
            loan_events as (partition by item_barcode, loan_seq),
            returns_first as (
                partition by item_barcode, loan_seq
                order by case when event_type = 'return' then 0 else 1 end, event_at, event_id
                rows between unbounded preceding and unbounded following
            )

    ),

    per_loan_renewals as (

        select
            *,
            count(*) filter (where counts_as_renewal) over loan_events as renewals,
            max(_loaded_at) filter (where counts_as_renewal) over loan_events as renewals_loaded_at,
            first_value(case when sets_due_date then due_date end) over last_renewal_first as renewed_due_date
        from (
            select
                *,
                event_type = 'renew' and (returned_at is null or event_at <= returned_at) as counts_as_renewal,
                (event_type = 'renew' and due_date is not null and (returned_at is null or event_at <= returned_at))
                    as sets_due_date
            from per_loan_return
        ) as flagged
        window
            loan_events as (partition by item_barcode, loan_seq),
            last_renewal_first as (
                partition by item_barcode, loan_seq
                order by case when sets_due_date then 0 else 1 end, event_at desc, event_id desc
                rows between unbounded preceding and unbounded following
            )

    ),

    paired as (

        select
            event_id as loan_id,
            event_at as loan_at,
            event_date as loan_date,
            library_code,
            county_code,
            prefecture_code,
            item_barcode,
            item_home_library,
            reader_key,
            reader_home_library,
            coalesce(renewed_due_date, due_date) as due_date,
            renewals::integer as renewals,
            returned_at,
            return_library_code,
            (returned_date - event_date) as loan_days,
            case
                when returned_at is not null and coalesce(renewed_due_date, due_date) is not null
                    then greatest(returned_date - coalesce(renewed_due_date, due_date), 0)
            end as overdue_days,
            coalesce(return_library_code <> library_code, false) as is_returned_elsewhere,
            -- the latest load behind this row (loan, renewals or return): the incremental watermark
            greatest(_loaded_at, return_loaded_at, renewals_loaded_at) as _loaded_at
        from per_loan_renewals
        where event_type = 'loan'

    )

    select * from paired
{%- endmacro %}
