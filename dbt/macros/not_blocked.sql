{#- Rows of deliveries the quality gate held back (quality.blocked_batches, written by quality/) stay out
    of staging, so a blocked county's batch never reaches the marts while the other counties flow on.
    A steward's `shuyun quality release` (or a passing re-check) removes the hold. -#}
{% macro not_blocked(batch_column='_batch_id') -%}
not exists (
    select 1 from {{ source('quality', 'blocked_batches') }} as blocked
    where blocked.batch_id = {{ batch_column }}
)
{%- endmacro %}
