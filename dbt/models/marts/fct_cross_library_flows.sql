-- Grain: month x borrowing library x returning library x item home library x reader home library
-- (通借通还 flows). Every loan counts, local ones too (borrow = return = item home = reader home),
-- so shares of cross-library traffic can be computed. return_library_code is null for loans not yet
-- returned. county_code / prefecture_code are those of the borrowing library on the loan date (a library
-- that moves county mid-month gives one row per county).
with

loans as (

    select * from {{ ref('fct_loans') }}

),

events as (

    select event_id, item_home_library, reader_home_library from {{ ref('fct_circulation_events') }}
    where event_type = 'loan'

)

select
    date_trunc('month', loans.loan_date)::date as month_start,
    loans.library_code as borrow_library_code,
    loans.return_library_code,
    events.item_home_library,
    events.reader_home_library,
    loans.county_code,
    loans.prefecture_code,
    count(*) as loans,
    count(loans.returned_at) as returned_loans
from loans
left join events on events.event_id = loans.loan_id
group by 1, 2, 3, 4, 5, 6, 7
