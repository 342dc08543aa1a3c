-- The reference for mart_active_users__metrics: metric_mart over the per-customer definition
-- (int_metrics__active_users), the plain way the other domains are built, where the mart reads
-- int_metrics__active_users_by_segment (rolled up without per-customer rows). Compiled, never run by
-- the build: tests/test_e2e.py checks that the mart returns these rows.
{{ metric_mart('active_users', ref('int_metrics__active_users'), dimensions=[]) }}
