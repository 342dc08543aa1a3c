{{ metric_mart('retention', ref('int_metrics__retention_by_segment'), dimensions=[], by_segment='rolled_up') }}
