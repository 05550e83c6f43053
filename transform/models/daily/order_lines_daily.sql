-- order_lines, one row per order line and day (the curated day var('day')), with the hour of
-- day it was ordered. Incremental by p_date like users_daily.
select
    order_id,
    product_id,
    add_to_cart_order,
    reordered,
    ordered_at,
    extract(hour from ordered_at) as ordered_hour,
    ingested_at,
    p_date
from ({{ firelake_day_rows('order_lines', 'order_lines_curated') }}) as day
