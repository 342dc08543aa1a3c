-- The observations of int_metrics__active_users (a view) summed per metric, grain, period and segment
-- combination: at 1M customers a few rows per combination instead of one per customer and
-- period, so the per-customer rows are never written (benchmarks/results.md).
{{ observations_by_segment(ref('int_metrics__active_users'), dimensions=[]) }}
