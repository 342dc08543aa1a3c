{{ metric_mart('retention', ref('int_metrics__retention'), dimensions=[]) }}
