-- Fails the build (error) for every row of seeds/engagement_event_weights.csv whose
-- (source, event_type) is not an event fct_engagement_events can emit (a typo, or a source or
-- event type that does not exist): such a weight would silently never count. The known pairs
-- are listed in macros/engagement/engagement.sql (engagement_event_types).
{{ config(severity='error') }}
{%- set known = [] %}
{%- for source, types in engagement_event_types().items() %}
    {%- for event_type in types %}
        {%- do known.append("select '" ~ source ~ "' as source, '" ~ event_type ~ "' as event_type") %}
    {%- endfor %}
{%- endfor %}

with known_event_types as (
    {{ known | join('\n    union all ') }}
)

select
    weights.source,
    weights.event_type,
    {{ dbt.concat(["'unknown event type in seeds/engagement_event_weights.csv: '", 'weights.source', "','", 'weights.event_type']) }} as problem
from {{ ref('engagement_event_weights') }} as weights
left join known_event_types
    on known_event_types.source = weights.source
    and known_event_types.event_type = weights.event_type
where known_event_types.source is null
