-- One row per loan, paired with its renewals and its return: the events of each item are put in
-- time order and numbered by the loans seen so far (loan_seq); a return or renewal belongs to the
-- latest loan before it. The first return after a loan closes it (returned anywhere: 通借通还);
-- renewals count until that return. A return before any known loan (history starts mid-loan)
-- closes nothing. At equal timestamps a return sorts before a loan (returned, then lent again).
with

events as (

    select * from {{ ref('int_circulation_events_attributed') }}
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
    from events

),

loans as (

    select * from sequenced where event_type = 'loan'

),

first_returns as (

    select distinct on (item_barcode, loan_seq)
        item_barcode,
        loan_seq,
        event_at as returned_at,
        event_date as returned_date,
        library_code as return_library_code,
        _loaded_at as return_loaded_at
    from sequenced
    where event_type = 'return' and loan_seq > 0
    order by item_barcode, loan_seq, event_at, event_id

),

renewals as (

    select
        sequenced.item_barcode,
        sequenced.loan_seq,
        count(*) as renewals,
        max(sequenced._loaded_at) as renewals_loaded_at,
        (array_agg(sequenced.due_date order by sequenced.event_at desc, sequenced.event_id desc)
            filter (where sequenced.due_date is not null))[1] as renewed_due_date
    from sequenced
    left join first_returns
        on first_returns.item_barcode = sequenced.item_barcode
        and first_returns.loan_seq = sequenced.loan_seq
    where sequenced.event_type = 'renew'
        and sequenced.loan_seq > 0
        and (first_returns.returned_at is null or sequenced.event_at <= first_returns.returned_at)
    group by sequenced.item_barcode, sequenced.loan_seq

),

paired as (

    select
        loans.event_id as loan_id,
        loans.event_at as loan_at,
        loans.event_date as loan_date,
        loans.library_code,
        loans.county_code,
        loans.prefecture_code,
        loans.item_barcode,
        loans.item_home_library,
        loans.reader_key,
        loans.reader_home_library,
        coalesce(renewals.renewed_due_date, loans.due_date) as due_date,
        coalesce(renewals.renewals, 0)::integer as renewals,
        first_returns.returned_at,
        first_returns.return_library_code,
        (first_returns.returned_date - loans.event_date) as loan_days,
        case
            when first_returns.returned_at is not null and coalesce(renewals.renewed_due_date, loans.due_date) is not null
                then greatest(first_returns.returned_date - coalesce(renewals.renewed_due_date, loans.due_date), 0)
        end as overdue_days,
        coalesce(first_returns.return_library_code <> loans.library_code, false) as is_returned_elsewhere,
        -- the latest load behind this row (loan, renewals or return): the incremental watermark
        greatest(loans._loaded_at, first_returns.return_loaded_at, renewals.renewals_loaded_at) as _loaded_at
    from loans
    left join first_returns
        on first_returns.item_barcode = loans.item_barcode
        and first_returns.loan_seq = loans.loan_seq
    left join renewals
        on renewals.item_barcode = loans.item_barcode
        and renewals.loan_seq = loans.loan_seq

)

select * from paired
