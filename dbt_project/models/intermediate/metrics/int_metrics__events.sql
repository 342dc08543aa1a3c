-- Observations of the brand-event metrics (docs/metrics-framework.md), channel = event_type,
-- from stg_events__registrations as they stand now. event_registrations: registrations not
-- cancelled, by registered_date (reporting time zone), per customer. event_attendance_rate:
-- attended / not-cancelled registrations of held events (attended not null), by event_date,
-- per customer. event_fill_rate: not-cancelled registrations / capacity, one row per event
-- (account level, customer_id null), by event_date; capacity = the event's largest delivered
-- capacity; an event with capacity 0 or null adds its registrations to no denominator.
-- Dated observations only up to as_of_date() (an event counts in attendance and fill once its
-- day has come). All additive over time.
{%- set double = type_double() %}

with registrations as (
    select event_id, event_type, event_date, capacity, customer_id, registered_date, attended, cancelled
    from {{ ref('stg_events__registrations') }}
),

grains as (
    {{ metric_grains() }}
),

registration_observations as (
    select
        'event_registrations' as metric_name,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'registrations.registered_date') }} as period_start,
        registrations.customer_id,
        registrations.event_type as channel,
        count(*) as numerator,
        cast(null as {{ double }}) as denominator,
        count(*) as sample_size
    from registrations
    cross join grains
    where not registrations.cancelled
        and registrations.registered_date <= {{ as_of_date() }}
    group by grains.period_grain, 3, registrations.customer_id, registrations.event_type
),

attendance_observations as (
    select
        'event_attendance_rate' as metric_name,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'registrations.event_date') }} as period_start,
        registrations.customer_id,
        registrations.event_type as channel,
        sum(case when registrations.attended then 1 else 0 end) as numerator,
        cast(count(*) as {{ double }}) as denominator,
        count(*) as sample_size
    from registrations
    cross join grains
    where not registrations.cancelled
        and registrations.attended is not null
        and registrations.event_date <= {{ as_of_date() }}
    group by grains.period_grain, 3, registrations.customer_id, registrations.event_type
),

events as (
    select
        event_id,
        max(event_type) as event_type,
        max(event_date) as event_date,
        max(capacity) as capacity,
        sum(case when cancelled then 0 else 1 end) as registrations
    from registrations
    group by event_id
),

fill_observations as (
    select
        'event_fill_rate' as metric_name,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'events.event_date') }} as period_start,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        events.event_type as channel,
        sum(case when events.capacity > 0 then events.registrations else 0 end) as numerator,
        cast(sum(case when events.capacity > 0 then events.capacity else 0 end) as {{ double }}) as denominator,
        sum(case when events.capacity > 0 then 1 else 0 end) as sample_size
    from events
    cross join grains
    where events.event_date <= {{ as_of_date() }}
    group by grains.period_grain, 3, events.event_type
),

observations as (
    select * from registration_observations
    union all
    select * from attendance_observations
    union all
    select * from fill_observations
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as touchpoint,
    cast(numerator as {{ double }}) as numerator,
    cast(denominator as {{ double }}) as denominator,
    cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
    cast(null as {{ double }}) as sum_squares
from observations
