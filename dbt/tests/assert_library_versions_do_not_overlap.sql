-- SCD2: the versions of one library never overlap in time (valid_to is exclusive).
select a.library_code, a.valid_from as from_a, a.valid_to as to_a, b.valid_from as from_b, b.valid_to as to_b
from {{ ref('stg_raw__libraries') }} as a
inner join {{ ref('stg_raw__libraries') }} as b
    on a.library_code = b.library_code
    and a.valid_from < b.valid_from
    and (a.valid_to is null or a.valid_to > b.valid_from)
