{{ metric_mart('revenue', ref('int_metrics__revenue_by_segment'), dimensions=['channel'], by_segment='rolled_up') }}
