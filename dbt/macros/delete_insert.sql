{#- delete+insert for the incremental facts, on PostgreSQL. dbt's default deletes
    `where key in (select distinct key from <new rows>)`: the new rows are a fresh temp table without
    statistics, PostgreSQL guesses 200 keys and, against a fact of millions of rows, hashes the whole fact
    (a sequential scan per run: the cost grows with the history). `key = any (array(...))` is planned as an
    index look-up per key, so deleting the rebuilt days costs the days. Composite keys keep dbt's default. -#}
{% macro postgres__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {%- if unique_key is string and not incremental_predicates -%}
        {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
        delete from {{ target }} as DBT_INTERNAL_DEST
        where {{ unique_key }} = any (array(
            select distinct {{ unique_key }} from {{ source }} as DBT_INTERNAL_SOURCE
        ));

        insert into {{ target }} ({{ dest_cols_csv }})
        (
            select {{ dest_cols_csv }}
            from {{ source }}
        )
    {%- else -%}
        {{ default__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) }}
    {%- endif -%}
{%- endmacro %}
