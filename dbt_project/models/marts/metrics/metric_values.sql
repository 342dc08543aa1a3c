-- The KPI store: every metric of the registry (macros/metrics/registry.sql) for every grain and
-- segment, as the union of the domain marts (one per domain; see docs/metrics-framework.md).
{%- set domain_marts = [
    ref('mart_survey__metrics'),
    ref('mart_web__metrics'),
    ref('mart_active_users__metrics'),
    ref('mart_email__metrics'),
    ref('mart_social__metrics'),
    ref('mart_app__metrics'),
    ref('mart_events__metrics'),
    ref('mart_support__metrics'),
    ref('mart_engagement__metrics'),
    ref('mart_retention__metrics'),
    ref('mart_revenue__metrics'),
    ref('mart_acquisition__metrics'),
] %}

{% for mart in domain_marts %}
select
    metric_name, period_grain, period_start, segment_name, segment_value,
    numerator, denominator, value, sample_size, ci_low, ci_high, computed_at
from {{ mart }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
