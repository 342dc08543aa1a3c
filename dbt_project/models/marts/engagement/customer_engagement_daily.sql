{{ config(**replace_by_key_config(['customer_id', 'score_date'])) }}
-- the entity models engagement_rescore_from reads on incremental runs only:
-- depends_on: {{ ref('stg_shop__orders') }}, {{ ref('stg_helpdesk__tickets') }}, {{ ref('stg_surveys__responses') }}
-- depends_on: {{ ref('stg_referrals__referrals') }}, {{ ref('stg_events__registrations') }}
-- One row per CRM customer and day, from the customer's signup (or first event, if earlier) to
-- the run date: score = sum over the events of the trailing engagement_window_days (the scored
-- day and the days before it) of the event's weight (seed engagement_event_weights), optionally
-- decayed by 0.5 ^ (age / half-life); band from seed engagement_score_bands; one sub-score per
-- source (they add up to the score). Incremental: a nightly run rebuilds only its days
-- (run_start_date .. run_date; for a customer it delivered older events of, from the earliest
-- of them) for the customers it already scores, and the whole history of customers new to the
-- table (late-arriving CRM rows) or with an entity row the run delivered (a new version of an
-- order, ticket, survey answer, referral or registration can withdraw an event of any earlier
-- day: macro engagement_rescore_from); a full refresh rebuilds all of history and gives the same
-- rows. week_ago_score (the score of 7 days earlier, null before the customer's first day)
-- feeds the drop metrics without a self-join of this table; it is summed in the same window
-- pass as the score (a lag() of the score would sort the 120M rows of 1M customers again).
-- An incremental run scores the customers it rescores from its first day only (nearly all of
-- them) without the window: their few days' sums come straight from the events of the window
-- before each day (recent_*); the dense window pass is left to the customers rescored from an
-- earlier day or over their whole history.
{%- set window = engagement_window_days() %}
{#- days read before the first rescored day: its week_ago_score sums the window that ends 7 days
    before it, back to window + 6 days before it #}
{%- set lookback = window + 7 %}
{%- set sources = engagement_sources() %}
{%- set double = type_double() %}
{%- set first_scored_day = incremental_run_start() %}

with
{%- if first_scored_day %}
-- the customers the table scores and the day each one is rescored from (null: its whole
-- history); a customer not scored yet gets its whole history too
scored_before as (
    {{ engagement_rescore_from(first_scored_day, 'score_date') | indent(4) }}
),
{%- endif %}

events as (
    select events.customer_id, events.source, events.occurred_date, events.weight
    from {{ ref('fct_engagement_events') }} as events
    {%- if first_scored_day %}
    left join scored_before
        on scored_before.customer_id = events.customer_id
    {%- endif %}
    where events.is_known_customer
        and events.occurred_date <= {{ as_of_date() }}
        {%- if first_scored_day %}
        -- incremental, the window pass's customers only: all of the history of a new customer or
        -- of one whose entity rows the run delivered (score_from null), and from the window before
        -- the first rescored day of one rescored from before the run (late events); those
        -- rescored from the run's first day are scored from the events (recent_*)
        and (
            scored_before.score_from is null
            or (
                scored_before.score_from < {{ first_scored_day }}
                and events.occurred_date > {{ dbt.dateadd('day', -lookback, 'scored_before.score_from') }}
            )
        )
        {%- endif %}
),

daily_weights as (
    select
        customer_id,
        occurred_date,
        {{ engagement_source_sums('weight', 'w_') | indent(8) }}
    from events
    group by customer_id, occurred_date
),

first_events as (
    select customer_id, min(occurred_date) as first_day
    from {{ ref('fct_engagement_events') }}
    where is_known_customer
    group by customer_id
),

customers as (
    select
        customers.customer_id,
        least(customers.signup_date, coalesce(first_events.first_day, customers.signup_date)) as first_day,
        {%- if first_scored_day %}
        scored_before.score_from
        {%- else %}
        cast(null as date) as score_from
        {%- endif %}
    -- the CRM itself, not dim_customers (which carries the current score)
    from {{ ref('stg_crm__customers') }} as customers
    left join first_events
        on first_events.customer_id = customers.customer_id
    {%- if first_scored_day %}
    left join scored_before
        on scored_before.customer_id = customers.customer_id
    {%- endif %}
    where customers.signup_date is not null
),

days as (
    select period_start as score_date
    from {{ ref('int_metric_periods') }}
    where period_grain = 'day'
),

-- dense: every customer has every day from its first day (or, when only recent days are
-- rescored, from the window before them), so a window of N rows is N days
spine as (
    select customers.customer_id, customers.score_from, days.score_date
    from customers
    inner join days
        on days.score_date >= customers.first_day
        and (customers.score_from is null or days.score_date > {{ dbt.dateadd('day', -lookback, 'customers.score_from') }})
    {%- if first_scored_day %}
    where customers.score_from is null or customers.score_from < {{ first_scored_day }}
    {%- endif %}
),

dense as (
    select
        spine.customer_id,
        spine.score_from,
        spine.score_date,
        {%- for source in sources %}
        coalesce(daily_weights.w_{{ source }}, 0) as w_{{ source }},
        {%- endfor %}
        coalesce(daily_weights.w_total, 0) as w_total
    from spine
    left join daily_weights
        on daily_weights.customer_id = spine.customer_id
        and daily_weights.occurred_date = spine.score_date
),

scored as (
    select
        customer_id,
        score_from,
        score_date,
        {%- for source in sources %}
        {{ round_score(engagement_window_sum('w_' ~ source)) }} as score_{{ source }},
        {%- endfor %}
        {{ round_score(engagement_window_sum('w_total')) }} as score,
        -- dense rows: 7 rows back is 7 days back, and none there is before the first day
        case
            when lag(score_date, 7) over (partition by customer_id order by score_date) is not null
                then {{ round_score(engagement_window_sum('w_total', days_back=7)) }}
        end as week_ago_score
    from dense
),

{%- if first_scored_day %}

-- the customers rescored from the run's first day: each of the run's days (usually one) is the
-- sum of the weights of the events in the window before it, with no dense rows and no window
run_days as (
    select score_date from days where score_date >= {{ first_scored_day }}
),

recent_contributions as (
    select
        customer_id,
        score_date,
        source,
        {{ engagement_decayed_weight('weight', 'age') }} as weight_now,
        {{ engagement_decayed_weight('weight', 'age - 7') }} as weight_week_ago
    from (
        select
            events.customer_id,
            events.source,
            events.weight,
            run_days.score_date,
            {{ dbt.datediff('events.occurred_date', 'run_days.score_date', 'day') }} as age
        from {{ ref('fct_engagement_events') }} as events
        inner join scored_before
            on scored_before.customer_id = events.customer_id
            and scored_before.score_from = {{ first_scored_day }}
        inner join run_days
            on events.occurred_date <= run_days.score_date
            and events.occurred_date > {{ dbt.dateadd('day', -lookback, 'run_days.score_date') }}
        where events.is_known_customer
            and events.occurred_date > {{ dbt.dateadd('day', -lookback, first_scored_day) }}
    ) as event_ages
),

recent_sums as (
    select
        customer_id,
        score_date,
        {{ engagement_source_sums('weight_now', 's_') | indent(8) }},
        sum(weight_week_ago) as s_week_ago
    from recent_contributions
    group by customer_id, score_date
),

recent_scored as (
    select
        customers.customer_id,
        customers.score_from,
        run_days.score_date,
        {%- for source in sources %}
        {{ round_score('coalesce(recent_sums.s_' ~ source ~ ', 0)') }} as score_{{ source }},
        {%- endfor %}
        {{ round_score('coalesce(recent_sums.s_total, 0)') }} as score,
        -- as the window's lag(): null while the day a week earlier is before the first day
        case
            when {{ dbt.dateadd('day', -7, 'run_days.score_date') }} >= customers.first_day
                then {{ round_score('coalesce(recent_sums.s_week_ago, 0)') }}
        end as week_ago_score
    from customers
    inner join run_days
        on run_days.score_date >= customers.first_day
    left join recent_sums
        on recent_sums.customer_id = customers.customer_id
        and recent_sums.score_date = run_days.score_date
    where customers.score_from = {{ first_scored_day }}
),

all_scored as (
    select * from scored
    union all
    select * from recent_scored
),
{%- endif %}

bands as (
    select * from {{ ref('engagement_score_bands') }}
)

select
    cast(scored.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(scored.score_date as date) as score_date,
    cast(scored.score as {{ double }}) as score,
    cast(bands.band as {{ dbt.type_string() }}) as band,
    cast(bands.band_rank as {{ dbt.type_bigint() }}) as band_rank,
    {%- for source in sources %}
    cast(scored.score_{{ source }} as {{ double }}) as score_{{ source }},
    {%- endfor %}
    cast(scored.week_ago_score as {{ double }}) as week_ago_score
from {{ 'all_scored' if first_scored_day else 'scored' }} as scored
left join bands
    on {{ in_engagement_band('scored.score') }}
where scored.score_from is null or scored.score_date >= scored.score_from
