-- The reference for mart_revenue__metrics: metric_mart over the per-customer rows
-- (int_metrics__revenue), the plain way the small domains are built, where the mart reads
-- int_metrics__revenue_by_segment (rolled up per attribute set and plan). Compiled, never run by
-- the build: tests/test_e2e.py checks that the mart returns these rows.
{{ metric_mart('revenue', ref('int_metrics__revenue'), dimensions=['channel']) }}
