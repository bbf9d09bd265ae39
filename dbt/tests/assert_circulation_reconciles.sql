-- Nothing is silently dropped: per county and day, raw rows = fact rows + duplicates removed.
select *
from {{ ref('mart_reconciliation') }}
where raw_rows <> fact_rows + duplicates_removed
