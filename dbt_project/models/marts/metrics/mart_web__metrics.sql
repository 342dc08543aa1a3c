{{ metric_mart('web', ref('int_metrics__web_by_segment'), dimensions=['channel'], by_segment='rolled_up') }}
