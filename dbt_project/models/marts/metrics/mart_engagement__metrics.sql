{{ metric_mart('engagement', ref('int_metrics__engagement_by_segment'), dimensions=[], by_segment='rolled_up') }}
