{{ metric_mart('active_users', ref('int_metrics__active_users_by_segment'), dimensions=[], by_segment='rolled_up') }}
