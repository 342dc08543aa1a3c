{{ metric_mart('events', ref('int_metrics__events'), dimensions=['channel']) }}
