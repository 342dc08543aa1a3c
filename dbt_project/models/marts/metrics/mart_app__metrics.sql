{{ metric_mart('app', ref('int_metrics__app'), dimensions=['channel']) }}
