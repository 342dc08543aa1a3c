{{ metric_mart('active_users', ref('int_metrics__active_users'), dimensions=[]) }}
