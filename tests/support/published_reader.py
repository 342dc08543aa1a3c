"""A BI tool stand-in: queries the published marts file in a loop until a stop file appears.

Run as a separate process (DuckDB's file lock is per process): ``python published_reader.py
MODE PUBLISHED STOP OUT``. MODE ``held`` holds one read-only connection for its whole life;
``fresh`` opens a new one every round (two processes: within one process DuckDB reuses the
open database for a new connection to the same path, so a held connection would pin the copy
the fresh ones see). Each round checks that the tables of the file are exactly those
``meta.published_tables`` lists, all with its one run id and its row counts, i.e. that the
answers come from one complete run. Writes a JSON summary to OUT.
"""

import json
import sys
import time
import traceback
from pathlib import Path

import duckdb


def check(con) -> str:
    """The run id the connection reads; raises when its tables are not one complete run."""
    meta = con.execute("SELECT run_id, table_schema, table_name, row_count FROM meta.published_tables").fetchall()
    run_ids = {r[0] for r in meta}
    if len(run_ids) != 1:
        raise AssertionError(f"tables from several runs: {sorted(run_ids)}")
    tables = {
        (s, t) for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('marts', 'ml')"
        ).fetchall()
    }
    if tables != {(r[1], r[2]) for r in meta}:
        raise AssertionError(f"tables differ from the publication record: {sorted(tables ^ {(r[1], r[2]) for r in meta})}")
    counts = " UNION ALL ".join(f"SELECT '{s}.{t}', count(*) FROM {s}.\"{t}\"" for _, s, t, _ in meta)
    got = dict(con.execute(counts).fetchall())
    expected = {f"{s}.{t}": n for _, s, t, n in meta}
    if got != expected:
        raise AssertionError(f"row counts differ from the publication record: {got} vs {expected}")
    # a query a dashboard makes
    con.execute("SELECT metric_name, count(*) FROM marts.metric_values GROUP BY 1").fetchall()
    return run_ids.pop()


def main(mode: str, published: str, stop: str, out: str) -> None:
    rounds, errors, seen = 0, [], []
    held = duckdb.connect(published, read_only=True) if mode == "held" else None
    while True:
        stopping = Path(stop).exists()  # one more round after the stop file: reads the final file
        try:
            if held is not None:
                run_id = check(held)
            else:
                with duckdb.connect(published, read_only=True) as fresh:
                    run_id = check(fresh)
            if not seen or seen[-1] != run_id:
                seen.append(run_id)
        except Exception:
            errors.append(traceback.format_exc(limit=3))
        rounds += 1
        if stopping:
            break
        time.sleep(0.02)
    if held is not None:
        held.close()
    Path(out).write_text(json.dumps({"rounds": rounds, "errors": errors, "run_ids": seen}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
