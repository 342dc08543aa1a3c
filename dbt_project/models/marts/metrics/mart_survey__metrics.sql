{{ metric_mart('survey', ref('int_metrics__survey')) }}
