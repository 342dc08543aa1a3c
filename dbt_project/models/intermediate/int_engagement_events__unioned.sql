{{ config(materialized='view') }}
-- Every customer interaction of every source as one stream, in a single union-all pass over
-- the staging models (a view: fct_engagement_events is the one table that stores it).
-- Rows without a customer (anonymous web hits, app events before login, unmatched social
-- handles) are left out: the stream is about known people. Their sources' own models keep them.
-- counts_as_activity marks what the metrics contract counts for DAU/WAU/MAU: web, app, e-mail
-- open/click, social, survey responses, orders and support contacts. delivered_date is the
-- landing day of the row's latest delivery: incremental models rescore from the earliest event
-- a run (re)delivered.

{%- set events_date_sql = 'cast(' ~ from_reporting_tz('cast(event_date as ' ~ dbt.type_timestamp() ~ ')') ~ ' as ' ~ dbt.type_timestamp() ~ ')' %}

with web as (
    select
        {{ dbt.concat(["'web:'", 'event_id']) }} as event_id,
        customer_id,
        'web' as source,
        event_type,
        occurred_at,
        occurred_date,
        true as counts_as_activity,
        _partition_date as delivered_date
    from {{ ref('stg_web__events') }}
    where customer_id is not null
),

app as (
    select
        {{ dbt.concat(["'app:'", 'event_id']) }} as event_id,
        customer_id,
        'app' as source,
        event_type,
        occurred_at,
        occurred_date,
        true as counts_as_activity,
        _partition_date as delivered_date
    from {{ ref('stg_app__events') }}
    where customer_id is not null
),

email as (
    select
        {{ dbt.concat(["'email:'", 'event_id']) }} as event_id,
        customer_id,
        'email' as source,
        event_type,
        occurred_at,
        occurred_date,
        event_type in ('open', 'click') as counts_as_activity,
        _partition_date as delivered_date
    from {{ ref('stg_email__events') }}
),

social as (
    select
        {{ dbt.concat(["'social:'", 'interaction_id']) }} as event_id,
        customer_id,
        'social' as source,
        interaction_type as event_type,
        occurred_at,
        occurred_date,
        true as counts_as_activity,
        _partition_date as delivered_date
    from {{ ref('stg_social__interactions') }}
    where customer_id is not null
),

orders as (
    select
        {{ dbt.concat(["'orders:'", 'order_id']) }} as event_id,
        customer_id,
        'orders' as source,
        status as event_type,
        ordered_at as occurred_at,
        ordered_date as occurred_date,
        true as counts_as_activity,
        _partition_date as delivered_date
    from {{ ref('stg_shop__orders') }}
),

subscriptions as (
    select
        {{ dbt.concat(["'subscriptions:'", 'subscription_event_id']) }} as event_id,
        customer_id,
        'subscriptions' as source,
        event_type,
        occurred_at,
        occurred_date,
        false as counts_as_activity,
        _partition_date as delivered_date
    from {{ ref('stg_billing__subscription_events') }}
),

support_tickets as (
    -- spam and duplicate tickets are no customer contact
    select * from {{ ref('stg_helpdesk__tickets') }}
    where is_valid_ticket
),

support_opened as (
    select
        {{ dbt.concat(["'support:'", 'ticket_id', "':opened'"]) }} as event_id,
        customer_id,
        'support' as source,
        'ticket_opened' as event_type,
        opened_at as occurred_at,
        opened_date as occurred_date,
        true as counts_as_activity,
        _partition_date as delivered_date
    from support_tickets
),

support_reopened as (
    select
        {{ dbt.concat(["'support:'", 'ticket_id', "':reopened'"]) }} as event_id,
        customer_id,
        'support' as source,
        'ticket_reopened' as event_type,
        reopened_at as occurred_at,
        {{ to_reporting_date('reopened_at') }} as occurred_date,
        true as counts_as_activity,
        _partition_date as delivered_date
    from support_tickets
    where reopened_at is not null
),

surveys as (
    select
        {{ dbt.concat(["'surveys:'", 'invitation_id']) }} as event_id,
        customer_id,
        'surveys' as source,
        case
            when survey_type = 'nps' then {{ dbt.concat(["'nps_'", 'nps_category']) }}
            else {{ dbt.concat(['survey_type', "'_response'"]) }}
        end as event_type,
        responded_at as occurred_at,
        responded_date as occurred_date,
        true as counts_as_activity,
        _partition_date as delivered_date
    from {{ ref('stg_surveys__responses') }}
    where is_response
),

referrals as (
    select * from {{ ref('stg_referrals__referrals') }}
),

referrals_created as (
    select
        {{ dbt.concat(["'referrals:'", 'referral_id', "':created'"]) }} as event_id,
        referrer_customer_id as customer_id,
        'referrals' as source,
        'referral_created' as event_type,
        created_at as occurred_at,
        created_date as occurred_date,
        false as counts_as_activity,
        _partition_date as delivered_date
    from referrals
),

referrals_signed_up as (
    -- credited to the referrer: the friend's own signup is a CRM fact
    select
        {{ dbt.concat(["'referrals:'", 'referral_id', "':signed_up'"]) }} as event_id,
        referrer_customer_id as customer_id,
        'referrals' as source,
        'referral_signed_up' as event_type,
        signed_up_at as occurred_at,
        signed_up_date as occurred_date,
        false as counts_as_activity,
        _partition_date as delivered_date
    from referrals
    where signed_up_at is not null
),

registrations as (
    select * from {{ ref('stg_events__registrations') }}
),

events_registered as (
    -- a cancelled registration is no engagement (the metrics contract does not count it either)
    select
        {{ dbt.concat(["'brand_events:'", 'registration_id', "':registered'"]) }} as event_id,
        customer_id,
        'brand_events' as source,
        'event_registered' as event_type,
        registered_at as occurred_at,
        registered_date as occurred_date,
        false as counts_as_activity,
        _partition_date as delivered_date
    from registrations
    where not cancelled
),

events_attended as (
    -- the source has a day, no time: dated at local midnight of event_date (stored in UTC)
    select
        {{ dbt.concat(["'brand_events:'", 'registration_id', "':attended'"]) }} as event_id,
        customer_id,
        'brand_events' as source,
        'event_attended' as event_type,
        {{ events_date_sql }} as occurred_at,
        event_date as occurred_date,
        false as counts_as_activity,
        _partition_date as delivered_date
    from registrations
    where attended
)

select * from web
union all select * from app
union all select * from email
union all select * from social
union all select * from orders
union all select * from subscriptions
union all select * from support_opened
union all select * from support_reopened
union all select * from surveys
union all select * from referrals_created
union all select * from referrals_signed_up
union all select * from events_registered
union all select * from events_attended
