"""Customer-engagement warehouse: Dagster orchestration, ingestion, CLI and demo data."""
