{{ metric_mart('email', ref('int_metrics__email_by_segment'), dimensions=['channel'], by_segment='rolled_up') }}
