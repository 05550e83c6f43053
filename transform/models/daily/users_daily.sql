-- users, one row per user and day: the curated day var('day') (docs/transform.md), typed, with
-- derived columns. Incremental: a run reads and replaces that one day (p_date) only.
with day as (
    {{ firelake_day_rows('users', 'users_curated') }}
),

-- The curated day holds one row per user already (the compactor's dedupe); a lake compacted
-- with --no-dedupe still gets one row per user: the latest arrival.
latest as (
    select
        *,
        row_number() over (partition by user_id order by ingested_at desc) as arrival_rank
    from day
)

select
    user_id,
    gender,
    title,
    first_name,
    last_name,
    trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as full_name,
    email,
    nullif(split_part(email, '@', 2), '') as email_domain,
    username,
    cast(date_of_birth as date) as birth_date,
    age,
    {{ age_band('age') }} as age_band,
    registered_at,
    phone,
    cell,
    street_number,
    street_name,
    city,
    state,
    country,
    {{ country_code('country') }} as country_code,
    postcode,
    latitude,
    longitude,
    tz_offset,
    nationality,
    ingested_at,
    p_date
from latest
where arrival_rank = 1
