-- spacex_launches, one row per launch and day (the curated day var('day')), with its outcome.
select
    launch_id,
    flight_number,
    name,
    launched_at,
    extract(year from launched_at) as launch_year,
    case
        when upcoming then 'upcoming'
        when success then 'success'
        when not success then 'failure'
        else 'unknown'
    end as outcome,
    rocket_id,
    launchpad_id,
    ingested_at,
    p_date
from ({{ firelake_day_rows('spacex_launches', 'spacex_launches_curated') }}) as day
