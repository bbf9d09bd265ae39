{#-
  The days an incremental fact rebuilds (delete+insert by day), as a SQL query returning one column
  `rebuild_day`:
    * every day of circulation lines the fact has not seen (macro new_circulation_lines: batches loaded
      after the fact's watermark, max(_loaded_at) already in it, and batches released from a hold since);
    * every day of the lines not seen yet of each other [deliveries view, date column, feed] of `changed`
      (macro new_delivered_lines: through the ledger and raw's _batch_id index);
    * the last `late_arrival_days` days up to the newest day already in the fact (var, default 3),
      so events delivered late re-open their own day;
    * every day already in the fact when the library registry or the barcode ranges changed after
      the watermark (attribution of all history may move: a full rebuild, as --full-refresh would).
  Only meaningful inside `{% if is_incremental() %}`. The fact needs indexes on `_loaded_at` and on its
  day column, so the watermark and the newest day are index look-ups.
-#}
{% macro incremental_rebuild_days(changed, this_date_column) -%}
    {%- set watermark -%}
        (select coalesce(max(_loaded_at), '-infinity'::timestamptz) from {{ this }})
    {%- endset -%}
    select rebuild_day from (
        select distinct event_date as rebuild_day
        from ({{ new_circulation_lines(watermark) }}) as new_lines
        union
        {% for deliveries, date_column, feed in changed %}
        select distinct {{ date_column }} as rebuild_day
        from ({{ new_delivered_lines(deliveries, feed, watermark) }}) as new_lines
        union
        {% endfor %}
        select lookback.day::date as rebuild_day
        from generate_series(
            (select max({{ this_date_column }}) from {{ this }}) - {{ var('late_arrival_days', 3) | int }},
            (select max({{ this_date_column }}) from {{ this }}),
            interval '1 day'
        ) as lookback (day)
        union
        select distinct {{ this_date_column }} as rebuild_day
        from {{ this }}
        where exists (
            select 1 from {{ ref('stg_raw__libraries') }} where _loaded_at > {{ watermark }}
            union all
            select 1 from {{ ref('stg_raw__barcode_ranges') }} where _loaded_at > {{ watermark }}
        )
    ) as rebuild_days
    where rebuild_day is not null
{%- endmacro %}
