{#- Aggregate of value-source labels such as 'logs', 'forms', 'forms+logs': the distinct parts, sorted, joined
    with '+' (so 'forms+logs' and 'logs' merge into 'forms+logs', not 'forms+logs+logs'). -#}
{% macro merge_sources(column) -%}
(select string_agg(distinct part, '+' order by part)
 from unnest(string_to_array(string_agg({{ column }}, '+'), '+')) as part)
{%- endmacro %}
