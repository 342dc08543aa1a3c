{{ metric_mart('revenue', ref('int_metrics__revenue'), dimensions=['channel']) }}
