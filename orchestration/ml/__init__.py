"""Python assets downstream of the dbt marts (CLV, churn): added by the ML issue."""
