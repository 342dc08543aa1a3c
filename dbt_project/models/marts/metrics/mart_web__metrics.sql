{{ metric_mart('web', ref('int_metrics__web'), dimensions=['channel']) }}
