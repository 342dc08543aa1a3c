"""The dbt project handle, importable without loading any asset (manifest preparation)."""

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, load_settings

# dagster-dbt runs `dbt` from PATH; make it the one installed beside this interpreter
# (the project's .venv), which need not be activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=REPO_ROOT,
    target=load_settings().dbt_target,
)


def prepare_manifest() -> None:
    """Parse the dbt project so that ``manifest.json`` matches the models on disk.

    `dagster dev` does this on load (prepare_if_dev); `cew run` and the tests call it
    before importing the definitions, which read the manifest at import.
    """
    dbt_project.preparer.prepare(dbt_project)
