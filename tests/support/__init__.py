"""Helpers shared by the test suites (throwaway servers, dbt runs)."""
