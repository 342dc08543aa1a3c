{{ metric_mart('social', ref('int_metrics__social'), dimensions=['channel']) }}
