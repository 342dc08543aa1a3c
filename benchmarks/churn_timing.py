"""Time the ML stage on a built warehouse: CLV (fit + segments) and churn (features, train,
score), with the rows of each step, the models' ROC AUC and the peak RSS of this process.

    PYTHONPATH=. python benchmarks/churn_timing.py --warehouse data/bench/20000x120/warehouse.duckdb \
        [--as-of 2026-04-30] [--max-train-rows 200000 | --no-cap] [--clv]

Work on a copy of a warehouse: ``--clv`` writes ``ml.customer_clv`` and ``ml.clv_segments``.
The as-of date defaults to the newest day of ``marts.customer_engagement_daily``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat)
    cap = parser.add_mutually_exclusive_group()
    cap.add_argument("--max-train-rows", type=int, help="default: CEW_CHURN_MAX_TRAIN_ROWS")
    cap.add_argument("--no-cap", action="store_true", help="train on every labelled row")
    parser.add_argument("--clv", action="store_true", help="also time compute_clv and clv_segments")
    args = parser.parse_args()

    import duckdb

    from orchestration.bench import GIB, MemorySampler
    from orchestration.ml.churn import train_and_score

    memory = MemorySampler(interval=0.1)
    memory._thread.start()
    with duckdb.connect(str(args.warehouse)) as con:
        as_of = args.as_of or con.execute("SELECT max(score_date) FROM marts.customer_engagement_daily").fetchall()[0][0]
        customers = con.execute("SELECT count(*) FROM marts.dim_customers WHERE NOT is_unknown_member").fetchall()[0][0]
        print(f"{args.warehouse}: {customers:,} customers, as of {as_of}")
        if args.clv:
            from orchestration.ml.clv import CUSTOMER_CLV_COLUMNS, compute_clv, write_segments
            from orchestration.ml.common import write_table

            started = time.perf_counter()
            clv = compute_clv(con, as_of)
            fitted = time.perf_counter()
            write_table(con, "customer_clv", clv.customers, CUSTOMER_CLV_COLUMNS)
            written = time.perf_counter()
            segments = write_segments(con)
            done = time.perf_counter()
            parts = ", ".join(f"{k} {v:.2f} s" for k, v in clv.seconds.items())
            print(f"clv: compute {fitted - started:.1f} s ({parts}), write {written - fitted:.1f} s, "
                  f"segments {done - written:.1f} s ({segments} rows); {len(clv.customers):,} customers; "
                  f"peak {memory.sample() / GIB:.2f} GiB so far")
        kwargs = {}
        if args.no_cap:
            kwargs["max_train_rows"] = None
        elif args.max_train_rows is not None:
            kwargs["max_train_rows"] = args.max_train_rows
        else:
            from orchestration.settings import load_settings

            kwargs["max_train_rows"] = load_settings().churn_max_train_rows
        print(f"max_train_rows: {kwargs['max_train_rows']}")
        memory.start_stage()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as models:
            result = train_and_score(con, as_of, models_dir=Path(models), run_id="timing", **kwargs)
        total = time.perf_counter() - started
        peak = memory.end_stage()
    runs = result.runs.set_index("model")
    model = runs.loc["hgb_calibrated"]
    print(f"churn: {total:.1f} s; " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
    print(f"  feature rows {len(result.features):,}, split {model['split']}, train rows {model['train_rows']}, "
          f"production train rows {model['production_train_rows']}, eval rows {model['eval_rows']}, "
          f"scored {model['scored_customers']}")
    print("  ROC AUC " + ", ".join(f"{m} {runs.loc[m, 'roc_auc']:.4f}" for m in runs.index
                                   if runs.loc[m, "roc_auc"] is not None)
          + f"; model PR AUC {model['pr_auc']:.4f}, Brier {model['brier']:.4f}")
    print(f"  peak RSS during churn {peak / GIB:.2f} GiB")


if __name__ == "__main__":
    main()
