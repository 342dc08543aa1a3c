"""The dbt project handle, importable without loading any asset (manifest preparation)."""

import fcntl
import hashlib
import importlib.metadata
import os
import sys
from datetime import date
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, load_settings

# dagster-dbt runs `dbt` from PATH; make it the one installed beside this interpreter
# (the project's .venv), which need not be activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

_engine = load_settings().engine
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=REPO_ROOT,
    target=_engine,
    # one parse per engine (the manifest records the adapter): a PostgreSQL or Spark run beside a
    # DuckDB one does not re-parse the project under it
    target_path=Path("target") if _engine == "duckdb" else Path("target") / _engine,
)


# What the manifest was parsed from, written beside it: `cew run` skips `dbt parse` (7-40 s)
# when nothing it reads has changed since.
FINGERPRINT_NAME = "cew_manifest_fingerprint"
_NOT_PARSED = {"target", "logs", "dbt_packages"}


def _parse_env() -> dict[str, str]:
    """The settings dbt reads through env_var(), as the Dagster dbt assets pass them. Parsing
    with the same values lets each build reuse the parse: dbt re-parses every file whose
    env var values differ from those it was parsed with (an unset variable counts as
    different from one set to its default)."""
    return load_settings().dbt_env()


# where the warehouse is, not what the project is
_CONNECTION_ENV = {"CEW_WAREHOUSE_PATH", "CEW_SPARK_DIR"} | {f"CEW_PG_{p}" for p in ("HOST", "PORT", "USER", "PASSWORD", "DATABASE")}


def project_fingerprint() -> str:
    """SHA-256 over the dbt version, the settings dbt reads (but the connection settings,
    which only the profile uses) and every file dbt parses: the project, seeds, profiles."""
    env = {k: v for k, v in sorted(_parse_env().items()) if k not in _CONNECTION_ENV}
    digest = hashlib.sha256(importlib.metadata.version("dbt-core").encode() + repr(env).encode())
    files = [REPO_ROOT / "profiles.yml", *sorted((REPO_ROOT / "seeds").rglob("*"))]
    files += sorted(
        path for path in DBT_PROJECT_DIR.rglob("*") if path.relative_to(DBT_PROJECT_DIR).parts[0] not in _NOT_PARSED
    )
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def prepare_manifest() -> None:
    """Parse the dbt project so that ``manifest.json`` matches the files on disk.

    `dagster dev` does this on load (prepare_if_dev); `cew run` and the tests call it
    before importing the definitions, which read the manifest at import. Skipped when the
    manifest was parsed from the same files (see ``project_fingerprint``).
    """
    target = dbt_project.manifest_path.parent
    marker = target / FINGERPRINT_NAME
    fingerprint = project_fingerprint()
    target.mkdir(parents=True, exist_ok=True)
    # one parse at a time (parallel test workers, a run started beside `dagster dev`): the
    # others wait, then find the manifest up to date
    with open(target / "cew_prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if dbt_project.manifest_path.exists() and marker.exists() and marker.read_text() == fingerprint:
            return
        saved = dict(os.environ)
        os.environ.update(_parse_env())
        try:
            dbt_project.preparer.prepare(dbt_project)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        marker.write_text(fingerprint)


def run_env(days: list[date], latest_loaded: date | None = None, unbuilt_from: date | None = None) -> dict[str, str]:
    """``CEW_RUN_START_DATE``..``CEW_RUN_DATE``: the days this run (re)builds, read by the dbt
    macro ``run_var``. ``run_date`` is also the as-of date of "current state" models, so it is
    never earlier than the newest day already loaded: re-running an old day must not rewind
    the customer 360. The window starts no later than ``unbuilt_from``, the earliest day loaded
    since the last finished build: a run killed after its ingestion (or inside dbt) leaves
    days the incremental models never took in, and the next run, whatever its days, takes
    them in. Env vars, not ``--vars``: new vars would make every nightly ``dbt build``
    re-parse the whole project (about 20 s) instead of reusing the partial parse."""
    as_of = max([*days, latest_loaded] if latest_loaded else days)
    start = min([*days, unbuilt_from] if unbuilt_from else days)
    return {"CEW_RUN_START_DATE": start.isoformat(), "CEW_RUN_DATE": as_of.isoformat()}


# dbt models downstream of the Python ML assets: built by their own @dbt_assets, after them
AFTER_ML_SELECTION = "customer_360+"

# dbt unit tests check SQL logic against fixtures: they run in the test suite (tests/test_dbt_unit.py),
# not in every production build, as dbt recommends.
BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]
