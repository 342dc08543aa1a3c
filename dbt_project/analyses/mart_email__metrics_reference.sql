-- The reference for mart_email__metrics: metric_mart over the per-customer rows
-- (int_metrics__email), the plain way the small domains are built, where the mart reads
-- int_metrics__email_by_segment (rolled up per attribute set and plan). Compiled, never run by
-- the build: tests/test_e2e.py checks that the mart returns these rows.
{{ metric_mart('email', ref('int_metrics__email'), dimensions=['channel']) }}
