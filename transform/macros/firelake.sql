{#- Helpers shared by the models. Where DuckDB and Athena (Trino) differ, the difference is here,
    so the model SQL is the same on both targets. -#}

{#- The day a run builds: --vars '{day: YYYY-MM-DD}', else FIRELAKE_DAY (how the nightly task is
    told), else yesterday (UTC), the day the nightly compaction has just made. -#}
{% macro firelake_day() -%}
  {%- set yesterday = (modules.datetime.datetime.utcnow() - modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') -%}
  {%- set day = var('day', env_var('FIRELAKE_DAY', yesterday)) -%}
  {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', day | string) -%}
    {{ exceptions.raise_compiler_error("var day must be YYYY-MM-DD, got " ~ day) }}
  {%- endif -%}
  {{ return(day | string) }}
{%- endmacro %}

{#- The rows of one day of a source table: a predicate on the partition column only, which both
    engines push down (Athena prunes the Glue partition, DuckDB the files read). -#}
{% macro firelake_day_rows(source_name, table_name) -%}
  select * from {{ source(source_name, table_name) }}
  where p_date = '{{ firelake_day() }}'
{%- endmacro %}

{#- Local target: run the views file of the lake (`firelake catalog --sql` prints the same). -#}
{% macro firelake_local_views() -%}
  {%- if execute and target.type == 'duckdb' -%}
    {%- set path = env_var('FIRELAKE_DUCKDB_VIEWS', '../lake/_catalog/firelake.duckdb.sql') -%}
    {%- set rows = run_query("select content from read_text('" ~ path | replace("'", "''") ~ "')") -%}
    {%- do run_query(rows.columns[0].values()[0]) -%}
  {%- endif -%}
  {#- Nothing left for the hook to run (dbt skips an empty hook; on Athena, no query). -#}
{%- endmacro %}

{#- ISO 3166 alpha-2 code of a country name (the countries randomuser.me serves). -#}
{% macro country_code(column) -%}
  {%- set codes = {
    'Australia': 'AU', 'Brazil': 'BR', 'Canada': 'CA', 'Switzerland': 'CH', 'Germany': 'DE',
    'Denmark': 'DK', 'Spain': 'ES', 'Finland': 'FI', 'France': 'FR', 'United Kingdom': 'GB',
    'Ireland': 'IE', 'India': 'IN', 'Iran': 'IR', 'Mexico': 'MX', 'Netherlands': 'NL',
    'Norway': 'NO', 'New Zealand': 'NZ', 'Serbia': 'RS', 'Turkey': 'TR', 'Ukraine': 'UA',
    'United States': 'US'} -%}
  case {{ column }}
  {%- for name, code in codes.items() %}
    when '{{ name }}' then '{{ code }}'
  {%- endfor %}
  end
{%- endmacro %}

{#- Age band of an age in years. -#}
{% macro age_band(column) -%}
  case
    when {{ column }} is null then 'unknown'
    when {{ column }} < 18 then 'under 18'
    when {{ column }} < 25 then '18-24'
    when {{ column }} < 35 then '25-34'
    when {{ column }} < 45 then '35-44'
    when {{ column }} < 55 then '45-54'
    when {{ column }} < 65 then '55-64'
    else '65+'
  end
{%- endmacro %}
