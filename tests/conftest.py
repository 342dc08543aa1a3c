"""Shared fixtures. Test data is generated or hand-written under tmp_path; nothing is downloaded."""

import pytest


@pytest.fixture(scope="session")
def dbt_manifest():
    """A dbt manifest matching the models on disk (the Dagster definitions read it at import)."""
    from orchestration.dbt.project import dbt_project, prepare_manifest

    prepare_manifest()
    return dbt_project.manifest_path
