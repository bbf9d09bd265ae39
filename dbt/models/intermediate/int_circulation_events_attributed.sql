-- One row per circulation event, attributed: the library version valid on the event's local date
-- (SCD2 as-of join), the item's home library from the item barcode ranges (range join,
-- first <= barcode <= last), the item's CLC class and audience from holdings, and the
-- cross-library flags of 通借通还 (macros/attribute_circulation_events.sql, shared with the
-- incremental path of fct_circulation_events).
{{ attribute_circulation_events(ref('stg_raw__circulation_events')) }}
