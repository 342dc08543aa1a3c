{#- The metric registry: every metric of metric_values, once. docs/metrics-framework.md says how
    a metric is built; adding one = its parts in an int_metrics__<domain> model + one line here.

    kind:   ratio  value = scale x sum(numerator) / sum(denominator), null when that is 0 or null
            mean   the same, where numerator = sum of x and denominator = n
            count  value = sum(numerator) (counts and sums of money)
    ci:     wilson (proportions), trinomial (NPS), normal_mean (means of scores and durations), none
    segments: customer = all + the customer segments (+ channel/touchpoint where the observations
            have them); list = only those segment names. -#}

{% macro metric_registry() -%}
    {%- set customer = 'customer' -%}
    {%- set metrics = [
        {'name': 'nps', 'domain': 'survey', 'kind': 'ratio', 'scale': 100, 'ci': 'trinomial', 'unit': 'score', 'segments': customer,
         'description': '100 x (promoters - detractors) / responses; promoter 9-10, passive 7-8, detractor 0-6; by responded_at'},
        {'name': 'csat', 'domain': 'survey', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x CSAT responses scoring 4 or 5 / CSAT responses; by responded_at'},
        {'name': 'csat_mean', 'domain': 'survey', 'kind': 'mean', 'scale': 1, 'ci': 'normal_mean', 'unit': 'score', 'segments': customer,
         'description': 'mean CSAT score (1-5); by responded_at'},
        {'name': 'dsat', 'domain': 'survey', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x CSAT responses scoring 1 or 2 / CSAT responses; by responded_at'},
        {'name': 'ces', 'domain': 'survey', 'kind': 'mean', 'scale': 1, 'ci': 'normal_mean', 'unit': 'score', 'segments': customer,
         'description': 'sum of CES scores / CES responses (1-5, higher = easier); by responded_at'},
        {'name': 'survey_response_rate', 'domain': 'survey', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x invitations answered / invitations sent; by sent_at'},

        {'name': 'aht_seconds', 'domain': 'support', 'kind': 'mean', 'scale': 1, 'ci': 'normal_mean', 'unit': 'seconds', 'segments': customer,
         'description': 'total handle_time_seconds / tickets handled, over tickets resolved in the period (spam and duplicate excluded)'},
        {'name': 'fcr', 'domain': 'support', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x tickets resolved with contacts_count = 1 and not reopened / tickets resolved in the period (spam and duplicate excluded)'},
        {'name': 'first_response_seconds', 'domain': 'support', 'kind': 'mean', 'scale': 1, 'ci': 'normal_mean', 'unit': 'seconds', 'segments': customer,
         'description': 'mean of first_response_at - opened_at, tickets opened in the period'},

        {'name': 'customer_retention_rate', 'domain': 'retention', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': 'CRR = 100 x (E - N) / S: S active at the period start, E at its end, N active at the end but not at the start'},
        {'name': 'churn_rate', 'domain': 'retention', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x S members not active at the period end / S'},
        {'name': 'new_customers', 'domain': 'retention', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'customers', 'segments': customer,
         'description': 'customers whose signup falls in the period'},
        {'name': 'active_customers', 'domain': 'retention', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'customers', 'segments': customer,
         'description': 'customers active at the period end (paid subscription, or a completed order in the active window)'},
        {'name': 'churned_customers', 'domain': 'retention', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'customers', 'segments': customer,
         'description': 'S members not active at the period end'},

        {'name': 'revenue', 'domain': 'revenue', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'currency', 'segments': customer,
         'description': 'completed orders, gross - discount, in the reporting currency'},
        {'name': 'gross_margin', 'domain': 'revenue', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'currency', 'segments': customer,
         'description': 'revenue - cost of completed orders, in the reporting currency'},
        {'name': 'orders', 'domain': 'revenue', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'orders', 'segments': customer,
         'description': 'completed orders'},
        {'name': 'avg_order_value', 'domain': 'revenue', 'kind': 'ratio', 'scale': 1, 'ci': 'none', 'unit': 'currency', 'segments': customer,
         'description': 'revenue / completed orders'},
        {'name': 'referral_rate', 'domain': 'revenue', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x completed orders with a referral code / completed orders'},

        {'name': 'cac', 'domain': 'acquisition', 'kind': 'ratio', 'scale': 1, 'ci': 'none', 'unit': 'currency', 'segments': ['all', 'acquisition_channel'],
         'description': 'marketing spend / new customers, by acquisition channel'},
        {'name': 'clv_cac_ratio', 'domain': 'acquisition', 'kind': 'ratio', 'scale': 1, 'ci': 'none', 'unit': 'ratio', 'segments': ['all', 'acquisition_channel'],
         'description': 'mean simple CLV of customers acquired in the period / cac'},
        {'name': 'trial_to_paid', 'domain': 'acquisition', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x trial_converted / (trial_converted + trial_expired), by the event time: trials that ended in the period'},

        {'name': 'conversion_rate', 'domain': 'web', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x web visitors (distinct anonymous_id) with a purchase event / web visitors'},
        {'name': 'sessions', 'domain': 'web', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'sessions', 'segments': customer,
         'description': 'web and app sessions started in the period (30 minutes of inactivity end a session; midnight is no boundary)'},
        {'name': 'avg_session_seconds', 'domain': 'web', 'kind': 'mean', 'scale': 1, 'ci': 'normal_mean', 'unit': 'seconds', 'segments': customer,
         'description': 'mean session length (last hit - first hit), web and app sessions started in the period'},
        {'name': 'pages_per_session', 'domain': 'web', 'kind': 'ratio', 'scale': 1, 'ci': 'none', 'unit': 'pages', 'segments': customer,
         'description': 'page views / web sessions'},
        {'name': 'bounce_rate', 'domain': 'web', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x web sessions with exactly one page_view and no other interaction / web sessions'},
        {'name': 'returning_visitor_rate', 'domain': 'web', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x visitors in the period who had a session before the period / visitors'},
        {'name': 'referral_traffic_share', 'domain': 'web', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x web sessions whose first hit came from another site (traffic source referral) / web sessions'},

        {'name': 'dau', 'domain': 'active_users', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'customers', 'segments': customer,
         'description': 'distinct customers with an engagement event on the last day of the period'},
        {'name': 'wau', 'domain': 'active_users', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'customers', 'segments': customer,
         'description': 'distinct customers with an engagement event in the 7 days ending on the last day of the period'},
        {'name': 'mau', 'domain': 'active_users', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'customers', 'segments': customer,
         'description': 'distinct customers with an engagement event in the 30 days ending on the last day of the period'},
        {'name': 'stickiness', 'domain': 'active_users', 'kind': 'ratio', 'scale': 100, 'ci': 'none', 'unit': 'percent', 'segments': customer,
         'description': '100 x average DAU over the period / MAU at the period end'},

        {'name': 'email_open_rate', 'domain': 'email', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x distinct (campaign, customer) with an open / delivered (campaign, customer)'},
        {'name': 'email_click_rate', 'domain': 'email', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x distinct (campaign, customer) with a click / delivered (campaign, customer)'},
        {'name': 'email_unsubscribe_rate', 'domain': 'email', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x distinct (campaign, customer) with an unsubscribe / delivered (campaign, customer)'},
        {'name': 'email_engaged_customers', 'domain': 'email', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'customers', 'segments': customer,
         'description': 'distinct customers who opened or clicked any email in the period'},

        {'name': 'social_interactions', 'domain': 'social', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'interactions', 'segments': customer,
         'description': 'likes + comments + shares + reposts + mentions + replies + dms (impressions and follows are not interactions)'},
        {'name': 'social_engagement_rate', 'domain': 'social', 'kind': 'ratio', 'scale': 100, 'ci': 'none', 'unit': 'percent', 'segments': ['all', 'channel'],
         'description': '100 x social_interactions / impressions'},
        {'name': 'follower_growth_rate', 'domain': 'social', 'kind': 'ratio', 'scale': 100, 'ci': 'none', 'unit': 'percent', 'segments': ['all', 'channel'],
         'description': '100 x (followers at the period end - at its start) / followers at its start'},

        {'name': 'app_installs', 'domain': 'app', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'installs', 'segments': customer,
         'description': 'install events'},
        {'name': 'app_uninstalls', 'domain': 'app', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'uninstalls', 'segments': customer,
         'description': 'uninstall events'},
        {'name': 'app_uninstall_rate', 'domain': 'app', 'kind': 'ratio', 'scale': 100, 'ci': 'none', 'unit': 'percent', 'segments': customer,
         'description': '100 x uninstalls / installs'},

        {'name': 'event_registrations', 'domain': 'events', 'kind': 'count', 'scale': 1, 'ci': 'none', 'unit': 'registrations', 'segments': customer,
         'description': 'registrations not cancelled'},
        {'name': 'event_attendance_rate', 'domain': 'events', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x attended / registrations of held events'},
        {'name': 'event_fill_rate', 'domain': 'events', 'kind': 'ratio', 'scale': 100, 'ci': 'none', 'unit': 'percent', 'segments': ['all', 'channel'],
         'description': '100 x registrations / capacity'},

        {'name': 'engagement_score_mean', 'domain': 'engagement', 'kind': 'mean', 'scale': 1, 'ci': 'none', 'unit': 'points', 'segments': customer,
         'description': 'mean engagement score of the scored customers on the last day of the period (the run date for the running period)'},
        {'name': 'pct_at_risk', 'domain': 'engagement', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x scored customers in band at_risk on the last day of the period / scored customers'},
        {'name': 'pct_power_users', 'domain': 'engagement', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x scored customers in band power_user on the last day of the period / scored customers'},
        {'name': 'pct_score_drops', 'domain': 'engagement', 'kind': 'ratio', 'scale': 100, 'ci': 'wilson', 'unit': 'percent', 'segments': customer,
         'description': '100 x scored customers whose score fell by more than engagement_drop_share week over week (score_drop_alert) on the last day of the period / scored customers'},
    ] -%}
    {{ return(metrics) }}
{%- endmacro %}

{#- The standard segments, in output order. -#}
{% macro customer_segment_names() -%}
    {{ return(['country', 'acquisition_channel', 'plan', 'persona', 'age_band', 'income_band', 'gender']) }}
{%- endmacro %}

{% macro registry_entry(metric_name) -%}
    {%- for metric in metric_registry() if metric.name == metric_name -%}
        {{ return(metric) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("metric '" ~ metric_name ~ "' is not in macros/metrics/registry.sql") }}
{%- endmacro %}
