-- One row per loan, paired with its renewals and its return (macros/pair_loans.sql, shared with the
-- incremental path of fct_loans, which pairs only the items a run touches).
{{ pair_loans(ref('int_circulation_events_attributed')) }}
