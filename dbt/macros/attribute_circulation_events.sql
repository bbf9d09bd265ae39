{#- Attribution of deduplicated circulation events (`events`: a relation or CTE name with the columns
    of stg_raw__circulation_events): the library version valid on the event's local date (SCD2 as-of),
    the item's home library from the item barcode ranges (the range with the greatest first <= barcode,
    if its last >= barcode), CLC class and audience from holdings, and the 通借通还 flags.
    int_circulation_events_attributed applies it to all events (full refresh, unit tests);
    fct_circulation_events to the events of the days it rebuilds, with `holdings_by_item`: each event
    then looks its item up (the item filter reaches below the window of stg_raw__holdings_items, which
    partitions by item, and raw's index on item_barcode) instead of deduplicating the whole stock. -#}
{% macro attribute_circulation_events(events, holdings_by_item=false) -%}
    select
        events.event_id,
        events.event_type,
        events.event_at,
        events.event_date,
        events.library_code,
        library_versions.library_version_key,
        library_versions.level as library_level,
        coalesce(library_versions.county_code, events.county_code) as county_code,
        coalesce(library_versions.prefecture_code, left(events.county_code, 4) || '00') as prefecture_code,
        events.item_barcode,
        item_range.library_code as item_home_library,
        events.reader_key,
        events.reader_home_library,
        events.due_date,
        events.channel,
        coalesce(item_range.library_code <> events.library_code, false) as is_cross_library_item,
        coalesce(events.reader_home_library <> events.library_code, false) as is_cross_library_reader,
        holdings.clc_top_class,
        coalesce(holdings.is_children, false) as is_children_item,
        events.county_code as delivered_county_code,
        events._batch_id,
        events._loaded_at
    from (
        select
            *,
            case when item_barcode ~ '^[0-9]{1,18}$' then item_barcode::bigint end as item_barcode_number
        from {{ events }}
    ) as events
    left join {{ ref('int_libraries_versioned') }} as library_versions
        on library_versions.library_code = events.library_code
        and events.event_date >= library_versions.valid_from
        and (library_versions.valid_to is null or events.event_date < library_versions.valid_to)
    left join lateral (
        select item_ranges.library_code, item_ranges.last_barcode
        from {{ ref('int_barcode_ranges_indexed') }} as item_ranges
        where item_ranges.kind = 'item'
            and item_ranges.first_barcode <= events.item_barcode_number
        order by item_ranges.first_barcode desc
        limit 1
    ) as item_range on item_range.last_barcode >= events.item_barcode_number
    {% if holdings_by_item -%}
    left join lateral (
        select item.clc_top_class, item.is_children from {{ ref('stg_raw__holdings_items') }} as item
        where item.item_barcode = events.item_barcode
        offset 0
    ) as holdings on true
    {%- else -%}
    left join (
        select item_barcode, clc_top_class, is_children from {{ ref('stg_raw__holdings_items') }}
    ) as holdings on holdings.item_barcode = events.item_barcode
    {%- endif %}
{%- endmacro %}
