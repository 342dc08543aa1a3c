{{ metric_mart('engagement', ref('int_metrics__engagement'), dimensions=[]) }}
