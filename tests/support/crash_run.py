"""`cew` with a crash point, for the crash-recovery tests: ``CEW_TEST_CRASH_AT=<stage>``
makes the run print ``CRASH_POINT`` and wait at a chosen point of that stage, where the test
kills it with SIGKILL. Run as a script (``python tests/support/crash_run.py run ...``); the
points are patched in from here, so the product code has no test hooks.

- ``ingestion``: the third source-day load that has files, inside its transaction (the day's
  raw and quarantine rows replaced and its ledger rows written, not committed).
- ``ml``: right after an ML asset wrote its scores and appended its model-runs rows, before
  the rest of the ML tables (CLV segments) and ``customer_360``.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

CRASH_POINT = "CRASH_POINT reached"


def _wait_here(stage: str) -> None:
    print(f"{CRASH_POINT}: {stage}", file=sys.stderr, flush=True)
    time.sleep(3600)


def install(stage: str) -> None:
    if stage == "ingestion":
        from orchestration.ingestion import loader

        write_ledger, loads = loader._write_ledger, []

        def _write_ledger(con, load_id, results, loaded_at):
            write_ledger(con, load_id, results, loaded_at)
            if any(r.files for r in results):  # in _write_pass's transaction (no_file days are not)
                loads.append(results)
                if len(loads) == 3:
                    _wait_here(stage)

        loader._write_ledger = _write_ledger
    elif stage == "ml":
        from orchestration.ml import assets

        append_run = assets._append_run

        def _append_run(*args, **kwargs):
            append_run(*args, **kwargs)
            _wait_here(stage)

        assets._append_run = _append_run
    elif stage:
        raise SystemExit(f"unknown crash stage {stage!r}")


if __name__ == "__main__":
    install(os.environ.get("CEW_TEST_CRASH_AT", ""))
    from orchestration.cli import main

    sys.argv[0] = "cew"
    main()
