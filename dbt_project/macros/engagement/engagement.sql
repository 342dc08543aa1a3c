{#- The engagement score's vocabulary and arithmetic (metrics.md "Engagement score"). -#}

{#- Every (source, event_type) fct_engagement_events can emit: what seed engagement_event_weights
    may weigh. A new source or event type in int_engagement_events__unioned goes here too. -#}
{% macro engagement_event_types() -%}
    {{ return({
        'web': ['page_view', 'click', 'form_submit', 'signup', 'add_to_cart', 'purchase', 'newsletter_signup', 'video_play'],
        'app': ['install', 'uninstall', 'app_open', 'feature_used', 'message_sent', 'invite_sent', 'video_call'],
        'email': ['sent', 'delivered', 'open', 'click', 'bounce', 'unsubscribe', 'spam_report'],
        'social': ['impression', 'like', 'comment', 'share', 'repost', 'mention', 'reply', 'follow', 'unfollow', 'dm'],
        'orders': ['completed', 'returned', 'cancelled'],
        'subscriptions': ['trial_started', 'trial_converted', 'trial_expired', 'subscribed', 'upgraded', 'downgraded', 'renewed', 'cancelled'],
        'support': ['ticket_opened', 'ticket_reopened'],
        'surveys': ['nps_promoter', 'nps_passive', 'nps_detractor', 'csat_response', 'ces_response'],
        'referrals': ['referral_created', 'referral_signed_up'],
        'brand_events': ['event_registered', 'event_attended'],
    }) }}
{%- endmacro %}

{% macro engagement_sources() -%}
    {{ return(engagement_event_types().keys() | list) }}
{%- endmacro %}

{#- The decay half-life in days (var engagement_decay_half_life_days), or none when off. -#}
{% macro engagement_half_life() -%}
    {%- set raw = var('engagement_decay_half_life_days', '') | string | trim -%}
    {%- if raw in ('', 'None', 'none', '0') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = raw | float -%}
    {%- if value <= 0 -%}
        {{ exceptions.raise_compiler_error("engagement_decay_half_life_days must be a positive number of days, got '" ~ raw ~ "'") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{% macro engagement_window_days() -%}
    {%- set value = var('engagement_window_days') | int -%}
    {%- if value < 1 -%}
        {{ exceptions.raise_compiler_error("engagement_window_days must be at least 1, got '" ~ var('engagement_window_days') ~ "'") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- Trailing-window sum of `column` over a dense per-customer day series ordered by score_date:
    the rows of the last engagement_window_days days. With a half-life, each day's weight is
    multiplied by 0.5 ^ (age in days / half-life), age 0 = the scored day. days_back: the same
    sum for the day that many days before (7: the score a week earlier), over the same
    partition and order, so that the database computes both in one window pass. -#}
{% macro engagement_window_sum(column, partition_by='customer_id', order_by='score_date', days_back=0) -%}
    {%- set window = engagement_window_days() -%}
    {%- set half_life = engagement_half_life() -%}
    {%- if half_life is none -%}
        sum({{ column }}) over (partition by {{ partition_by }} order by {{ order_by }} rows between {{ window - 1 + days_back }} preceding and {{ days_back ~ ' preceding' if days_back else 'current row' }})
    {%- else -%}
        ({%- for age in range(window) %}
            {{ '+ ' if not loop.first }}{{ '%.12f' % (0.5 ** (age / half_life)) }} * coalesce(lag({{ column }}, {{ age + days_back }}) over (partition by {{ partition_by }} order by {{ order_by }}), 0)
        {%- endfor %})
    {%- endif -%}
{%- endmacro %}

{#- A score rounded to 6 decimals. Decimal weights (1.2, 3.3 ...) summed in another order, as a
    rescoring run or a parallel aggregate does, differ in the last bits (5.7 vs
    5.700000000000001), which would flip a band or a drop alert at an edge between runs. -#}
{% macro round_score(expression) -%}
    {{ return(adapter.dispatch('round_score')(expression)) }}
{%- endmacro %}

{% macro default__round_score(expression) -%}
    round({{ expression }}, 6)
{%- endmacro %}

{#- PostgreSQL rounds to a number of digits only numerics -#}
{% macro postgres__round_score(expression) -%}
    cast(round(cast({{ expression }} as numeric), 6) as double precision)
{%- endmacro %}

{#- The band of a score, from seed engagement_score_bands (joined as `bands`). -#}
{% macro in_engagement_band(score, bands='bands') -%}
    ({{ bands }}.lower_bound is null
        or {{ score }} > {{ bands }}.lower_bound
        or ({{ bands }}.lower_inclusive and {{ score }} = {{ bands }}.lower_bound))
    and ({{ bands }}.upper_bound is null
        or {{ score }} < {{ bands }}.upper_bound
        or ({{ bands }}.upper_inclusive and {{ score }} = {{ bands }}.upper_bound))
{%- endmacro %}

{#- One sum of `weight` per engagement source (`<prefix><source>`, rows of other sources count 0)
    and their total (`<prefix>total`), over rows with a `source` column: the sub-scores' parts. -#}
{% macro engagement_source_sums(weight, prefix) -%}
    {%- for source in engagement_sources() -%}
sum(case when source = '{{ source }}' then {{ weight }} else 0 end) as {{ prefix }}{{ source }},
{% endfor -%}
sum({{ weight }}) as {{ prefix }}total
{%- endmacro %}

{#- What an event of weight `weight` adds to the score of a day `age` days after the event
    (an expression: age 0 = the event's own day): its weight inside the trailing window
    (0 <= age < engagement_window_days), multiplied by 0.5 ^ (age / half-life) with a half-life
    (the same coefficients as engagement_window_sum), else 0. The per-event form of
    engagement_window_sum, for scoring a few days without a window pass. -#}
{% macro engagement_decayed_weight(weight, age) -%}
    {%- set window = engagement_window_days() -%}
    {%- set half_life = engagement_half_life() -%}
    {%- if half_life is none -%}
    case when {{ age }} >= 0 and {{ age }} < {{ window }} then {{ weight }} else 0 end
    {%- else -%}
    case {{ age }}
        {%- for age_days in range(window) %}
        when {{ age_days }} then {{ '%.12f' % (0.5 ** (age_days / half_life)) }} * {{ weight }}
        {%- endfor %}
        else 0
    end
    {%- endif -%}
{%- endmacro %}

{#- For an incremental run starting on `first_scored_day`: per customer the model (`this`)
    already holds, the first score_date the run rewrites: the run's first day, or the customer's
    earliest event that the run delivered late (a re-sent referral, a ticket version, a late
    export), whichever is earlier; null (the whole history) for a customer of an entity row the
    run delivered (order, ticket, survey answer, referral, registration): a new version can
    withdraw an event of any earlier day (a registration cancelled, a ticket marked spam), and
    a withdrawn event leaves no row to date it. The model's rows are dense per customer up to
    the last run's date, so its customers are those of its latest `date_column` (among the rows
    matching `rows_filter`); a customer missing there is new to the model. -#}
{% macro engagement_rescore_from(first_scored_day, date_column, rows_filter='true') -%}
    select
        scored.customer_id,
        case when rewritten_entities.customer_id is null then
            least({{ first_scored_day }}, coalesce(late_events.first_day, {{ first_scored_day }}))
        end as score_from
    from {{ this }} as scored
    left join (
        select customer_id, min(occurred_date) as first_day
        from {{ ref('fct_engagement_events') }}
        where delivered_date >= {{ first_scored_day }}
            and occurred_date < {{ first_scored_day }}
        group by customer_id
    ) as late_events
        on late_events.customer_id = scored.customer_id
    left join (
        {%- for model, customer_column in [('stg_shop__orders', 'customer_id'), ('stg_helpdesk__tickets', 'customer_id'),
            ('stg_surveys__responses', 'customer_id'), ('stg_referrals__referrals', 'referrer_customer_id'),
            ('stg_events__registrations', 'customer_id')] %}
        {{ 'union' if not loop.first }}
        select {{ customer_column }} as customer_id from {{ ref(model) }} where _partition_date >= {{ first_scored_day }}
        {%- endfor %}
    ) as rewritten_entities
        on rewritten_entities.customer_id = scored.customer_id
    where {{ rows_filter }}
        and scored.{{ date_column }} = (select max({{ date_column }}) from {{ this }} where {{ rows_filter }})
{%- endmacro %}

{#- The engagement scores at each period's end, per grain: every day ends its day; a week or
    month ends on its last day, or on the as-of date while it is still running. `daily` has
    customer_id, score_date, score, band, week_ago_score (customer_engagement_daily).
    dropped = 1.0 when the score fell by more than engagement_drop_share from week_ago_score
    (the drop alert of customer_engagement_current). -#}
{% macro engagement_period_ends(daily) -%}
{%- set as_of = as_of_date() %}
{%- for grain in ['day', 'week', 'month'] %}
{%- set grain_sql = "'" ~ grain ~ "'" %}
{{ 'union all' if not loop.first }}
select
    customer_id,
    {{ grain_sql }} as period_grain,
    {{ period_start(grain_sql, 'score_date') }} as period_start,
    score,
    band,
    case
        when week_ago_score > 0 and week_ago_score - score > {{ var('engagement_drop_share') }} * week_ago_score
        then 1.0 else 0.0
    end as dropped
from {{ daily }}
{%- if grain != 'day' %}
where score_date = {{ as_of }}
    or score_date = {{ period_end(grain_sql, period_start(grain_sql, 'score_date')) }}
{%- endif %}
{%- endfor %}
{%- endmacro %}
