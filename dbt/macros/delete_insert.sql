{#- delete+insert for the incremental facts, on PostgreSQL. dbt's default deletes
    `where key in (select distinct key from <new rows>)`: the new rows are a fresh temp table without
    statistics, PostgreSQL guesses 200 keys and, against a fact of millions of rows, hashes the whole fact
    (a sequential scan per run: the cost grows with the history). `key = any (array(...))` is planned as an
    index look-up per key, so deleting the rebuilt days costs the days. Composite keys keep dbt's default.

    With the model config `unchanged_rows_key` (a column unique in the fact, with an index), rows that come
    out of the run exactly as they are in the fact stay where they are: only the rows of the rebuilt keys
    that changed or vanished are deleted, and only new or changed rows are inserted. A daily run re-opens
    the last days for late events, but most of their rows come out unchanged, and every row written again
    costs an entry in each of the fact's indexes, most of them keyed at random (ids, items), where a bigger
    history means more index pages touched. The insert's look-up runs per new row (`offset 0`), never as a
    hash of the whole fact. -#}
{% macro postgres__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {%- set row_key = config.get('unchanged_rows_key') -%}
    {%- if unique_key is string and not incremental_predicates -%}
        {%- set dest_names = dest_columns | map(attribute="name") | list -%}
        {%- set dest_cols_csv = get_quoted_csv(dest_names) -%}
        delete from {{ target }} as DBT_INTERNAL_DEST
        where {{ unique_key }} = any (array(
            select distinct {{ unique_key }} from {{ source }} as DBT_INTERNAL_SOURCE
        ))
        {%- if row_key %}
            and not exists (
                select 1 from {{ source }} as DBT_INTERNAL_SOURCE
                where DBT_INTERNAL_SOURCE.{{ row_key }} = DBT_INTERNAL_DEST.{{ row_key }}
                    and ({% for c in dest_names %}DBT_INTERNAL_SOURCE.{{ adapter.quote(c) }}{{ ", " if not loop.last }}{% endfor %})
                        is not distinct from
                        ({% for c in dest_names %}DBT_INTERNAL_DEST.{{ adapter.quote(c) }}{{ ", " if not loop.last }}{% endfor %})
            )
        {%- endif %};

        insert into {{ target }} ({{ dest_cols_csv }})
        (
            select {{ dest_cols_csv }}
            from {{ source }} as DBT_INTERNAL_SOURCE
            {%- if row_key %}
            where not exists (
                select 1 from {{ target }} as DBT_INTERNAL_DEST
                where DBT_INTERNAL_DEST.{{ row_key }} = DBT_INTERNAL_SOURCE.{{ row_key }}
                offset 0
            )
            {%- endif %}
        )
    {%- else -%}
        {{ default__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) }}
    {%- endif -%}
{%- endmacro %}
