{{ metric_mart('support', ref('int_metrics__support'), dimensions=['channel']) }}
