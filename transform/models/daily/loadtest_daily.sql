-- loadtest, one row per load-test run and day (the curated day var('day')): how many records
-- reached the curated table and the span of their production times.
select
    run,
    count(*) as records,
    max(seq) - min(seq) + 1 as seq_span,
    min(produced_at) as first_produced_at,
    max(produced_at) as last_produced_at,
    p_date
from ({{ firelake_day_rows('loadtest', 'loadtest_curated') }}) as day
group by run, p_date
