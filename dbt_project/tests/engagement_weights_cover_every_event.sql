-- Every (source, event_type) pair the engagement stream emits should have a weight in seed
-- engagement_event_weights. A missing pair weighs 0: warn so that a user who edits the seed
-- (or a new event type in a source) is told, without stopping the nightly run.
{{ config(severity='warn') }}

select distinct events.source, events.event_type
from {{ ref('fct_engagement_events') }} as events
left join {{ ref('engagement_event_weights') }} as weights
    on weights.source = events.source
    and weights.event_type = events.event_type
where weights.source is null
