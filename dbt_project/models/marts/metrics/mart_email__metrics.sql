{{ metric_mart('email', ref('int_metrics__email'), dimensions=['channel']) }}
