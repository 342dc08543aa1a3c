-- The reference for mart_engagement__metrics: metric_mart over the per-customer definition
-- (int_metrics__engagement), the plain way the other domains are built, where the mart reads
-- int_metrics__engagement_by_segment (rolled up without per-customer rows). Compiled, never run by
-- the build: tests/test_e2e.py checks that the mart returns these rows.
{{ metric_mart('engagement', ref('int_metrics__engagement'), dimensions=[]) }}
