-- Two ranges of the same kind must not share a barcode: attribution would be ambiguous.
select
    a.kind,
    a.library_code as library_a,
    a.first_barcode as first_a,
    a.last_barcode as last_a,
    b.library_code as library_b,
    b.first_barcode as first_b,
    b.last_barcode as last_b
from {{ ref('stg_raw__barcode_ranges') }} as a
inner join {{ ref('stg_raw__barcode_ranges') }} as b
    on a.kind = b.kind
    and a.barcode_range_key < b.barcode_range_key
    and a.first_barcode <= b.last_barcode
    and b.first_barcode <= a.last_barcode
