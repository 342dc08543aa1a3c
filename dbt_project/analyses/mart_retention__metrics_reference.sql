-- The reference for mart_retention__metrics: metric_mart over the per-customer definition
-- (int_metrics__retention), the plain way the other domains are built, where the mart reads
-- int_metrics__retention_by_segment (rolled up without per-customer rows). Compiled, never run by
-- the build: tests/test_e2e.py checks that the mart returns these rows.
{{ metric_mart('retention', ref('int_metrics__retention'), dimensions=[]) }}
