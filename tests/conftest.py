"""Shared fixtures. Test data is generated or hand-written under tmp_path; nothing is downloaded."""

import os

import pytest

# Tests run on generated demo data: demo mode accepts the default PII key (CEW_DEMO_MODE). Set
# here, before any fixture starts `cew` or dbt, so their subprocesses inherit it.
os.environ.setdefault("CEW_DEMO_MODE", "true")


@pytest.fixture(scope="session")
def dbt_manifest():
    """A dbt manifest matching the models on disk (the Dagster definitions read it at import)."""
    from orchestration.dbt.project import dbt_project, prepare_manifest

    prepare_manifest()
    return dbt_project.manifest_path
