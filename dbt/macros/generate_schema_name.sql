{#- Layers build into their own schema: prod -> staging / intermediate / marts;
    any other target (dev, ci, ...) -> <target>_staging, <target>_intermediate, <target>_marts,
    so a developer or CI never overwrites what Superset reads. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set layer = (custom_schema_name or target.schema) | trim -%}
    {%- if target.name == 'prod' -%}
        {{ layer }}
    {%- else -%}
        {{ target.name }}_{{ layer }}
    {%- endif -%}
{%- endmacro %}
