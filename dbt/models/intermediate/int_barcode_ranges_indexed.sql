{{ config(materialized='table', indexes=[{'columns': ['kind', 'first_barcode']}]) }}
-- The barcode ranges as a small indexed table: attribution looks up "the range with the greatest
-- first barcode <= the barcode" and checks it also covers the barcode (ranges must not overlap:
-- tests/assert_barcode_ranges_do_not_overlap.sql).
select
    barcode_range_key,
    kind,
    first_barcode,
    last_barcode,
    library_code
from {{ ref('stg_raw__barcode_ranges') }}
