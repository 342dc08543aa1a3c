"""``ml.model_metrics``: the quality of the churn model, its baselines and the engagement score,
one row per run date, subject, model and metric (long format, appended per run), so BI can
chart drift between runs and retrainings.

Metrics on the churn model's evaluation snapshot (customers active on it, labelled by the spec's
churn 90 days later): ``roc_auc``, ``pr_auc``, ``brier`` (probabilities only), ``top_decile_lift``,
``churn_rate``; for probabilities also the calibration: ``calibration_ece`` (expected calibration
error: the row-weighted mean |observed churn rate - mean probability| over ten bins of equal
size by probability) and per bin (``bin`` 1 = lowest probabilities) ``calibration_predicted`` and
``calibration_observed``. The engagement score (``subject = engagement_score``) is judged on the
same rows by the ROC AUC of -score (a low score should mean churn).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MODEL_METRICS_COLUMNS = {
    "run_id": "VARCHAR",
    "run_date": "DATE",
    "computed_at": "TIMESTAMP",
    "subject": "VARCHAR",
    "model": "VARCHAR",
    "model_version": "VARCHAR",
    "split": "VARCHAR",
    "eval_snapshot": "DATE",
    "metric": "VARCHAR",
    "bin": "INTEGER",
    "value": "DOUBLE",
    "rows": "BIGINT",
}
CALIBRATION_BINS = 10


def calibration_bins(y, p, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Rows sorted by probability, cut into ``bins`` groups of (nearly) equal size: per group its
    rows, mean probability and observed rate."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, len(p))) if len(p) else []
    return pd.DataFrame([
        {"bin": i + 1, "rows": len(g), "predicted": float(p[g].mean()), "observed": float(y[g].mean())}
        for i, g in enumerate(groups) if len(g)
    ])


def expected_calibration_error(y, p, bins: int = CALIBRATION_BINS) -> float:
    table = calibration_bins(y, p, bins)
    if table.empty:
        return float("nan")
    return float((table["rows"] * (table["observed"] - table["predicted"]).abs()).sum() / table["rows"].sum())


def churn_model_metrics(result) -> pd.DataFrame:
    """Rows of ``ml.model_metrics`` for one churn run (``churn.ChurnResult``)."""
    from orchestration.evaluation.engagement import roc_auc

    rows = []
    for run in result.runs.to_dict("records"):
        if run.get("roc_auc") is None and run.get("top_decile_lift") is None:
            continue
        base = {"run_id": run["run_id"], "run_date": run["run_date"], "computed_at": run["computed_at"],
                "subject": "churn", "model": run["model"], "model_version": run.get("model_version"),
                "split": run.get("split"), "eval_snapshot": run.get("eval_snapshot"), "bin": None,
                "rows": run.get("eval_rows")}
        for metric, key in (("roc_auc", "roc_auc"), ("pr_auc", "pr_auc"), ("brier", "brier"),
                            ("top_decile_lift", "top_decile_lift"), ("churn_rate", "eval_churn_rate")):
            if run.get(key) is not None:
                rows.append({**base, "metric": metric, "value": run[key]})
        frame = result.eval_frame
        if frame is not None and run.get("brier") is not None and run["model"] in ("hgb_calibrated", "bgnbd_p_alive"):
            column = "model" if run["model"] == "hgb_calibrated" else "bgnbd_p_alive"
            y, p = frame["churned"].to_numpy(), frame[column].to_numpy(dtype=float)
            rows.append({**base, "metric": "calibration_ece", "value": expected_calibration_error(y, p)})
            for b in calibration_bins(y, p).to_dict("records"):
                rows.append({**base, "metric": "calibration_predicted", "bin": b["bin"], "rows": b["rows"], "value": b["predicted"]})
                rows.append({**base, "metric": "calibration_observed", "bin": b["bin"], "rows": b["rows"], "value": b["observed"]})
    frame = result.eval_frame
    if rows and frame is not None and "engagement_score" in frame:
        first = rows[0]
        known = frame["engagement_score"].notna().to_numpy()
        y = frame["churned"].to_numpy(dtype=bool)[known]
        rows.append({**{k: first[k] for k in ("run_id", "run_date", "computed_at", "split", "eval_snapshot")},
                     "subject": "engagement_score", "model": "engagement_score", "model_version": None,
                     "metric": "roc_auc", "bin": None, "rows": int(known.sum()),
                     "value": roc_auc(-frame["engagement_score"].to_numpy(dtype=float)[known], y)})
    out = pd.DataFrame(rows, columns=list(MODEL_METRICS_COLUMNS))
    return out.astype(object).where(out.notna(), None)
