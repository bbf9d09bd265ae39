{#- Shared by the full path (staging views) and the incremental facts, so both deduplicate alike. -#}

{#- Rank of a delivered line among deliveries of the same event: 1 = the one kept (latest batch). -#}
{% macro delivery_rank() -%}
    row_number() over (
        partition by _source, source_event_id
        order by _loaded_at desc, _batch_id desc, _line desc
    )
{%- endmacro %}

{#- The ledger's batches of `feed` that may hold rows loaded after `watermark` (a SQL timestamp
    expression, never null). The loader stamps a batch's rows with the start of its transaction and
    sets finished_at after it, so finished_at >= watermark keeps every such batch; a running batch
    (no finished_at) is kept too. The ledger has a row per delivery: cheap to scan, unlike raw. -#}
{% macro batches_loaded_since(feed, watermark) -%}
    select batch_id
    from {{ ref('stg_raw__ingest_batches') }}
    where feed = '{{ feed }}'
        and (finished_at is null or finished_at >= {{ watermark }})
{%- endmacro %}

{#- Delivered lines (`deliveries`: a staging view without window, with _batch_id, _loaded_at, is_held) of
    `feed` an incremental fact has not seen: lines of batches loaded after `watermark`, and every line of a
    batch a data steward released from a quality hold since then (its rows are older than the watermark).
    Read from raw through its _batch_id index, never by scanning raw. -#}
{% macro new_delivered_lines(deliveries, feed, watermark) -%}
    select *
    from {{ deliveries }}
    where not is_held
        and (
            (_batch_id = any (array({{ batches_loaded_since(feed, watermark) }}))
                and _loaded_at > {{ watermark }})
            or _batch_id = any (array(
                select batch_id from {{ ref('stg_quality__releases') }} where released_at > {{ watermark }}
            ))
        )
{%- endmacro %}

{% macro new_circulation_lines(watermark) -%}
    {{ new_delivered_lines(ref('stg_raw__circulation_deliveries'), 'circulation', watermark) }}
{%- endmacro %}
