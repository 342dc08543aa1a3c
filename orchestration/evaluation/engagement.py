"""How well the engagement score is calibrated and whether it carries signal.

On generated data the truth file (``<landing>_meta/truth_customers.parquet``) says which
customers really churn in the 90 days after the data ends. A useful score ranks those customers
low: the ROC AUC of ``-score`` against that label is the probability that a random churner
scores below a random customer who stays (0.5 = no signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; ties count one half."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=float)
    sorted_scores = scores[order]
    # average ranks of tied values (1-based)
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


@dataclass
class EngagementReport:
    as_of: str
    customers: int
    band_shares: dict[str, float]
    churners: int
    auc_churn_90d: float

    def markdown(self) -> str:
        rows = "\n".join(f"| {band} | {share:.1f} |" for band, share in self.band_shares.items())
        return (
            f"Engagement score on {self.as_of}: {self.customers:,} customers\n\n| band | % of customers |\n|---|---:|\n{rows}\n\n"
            f"ROC AUC of -score against real churn within 90 days (truth, {self.churners:,} churners): "
            f"{self.auc_churn_90d:.3f}\n"
        )


def engagement_report(warehouse: Path, truth: Path) -> EngagementReport:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        as_of = con.execute("SELECT max(score_date) FROM marts.customer_engagement_current").fetchone()[0]
        customers = con.execute("SELECT count(*) FROM marts.customer_engagement_current").fetchone()[0]
        # every band of the seed, also the empty ones
        shares = con.execute(
            """SELECT b.band, 100.0 * count(c.customer_id) / greatest(?, 1)
               FROM seeds.engagement_score_bands AS b
               LEFT JOIN marts.customer_engagement_current AS c USING (band)
               GROUP BY b.band, b.band_rank ORDER BY b.band_rank""",
            [customers],
        ).fetchall()
        # customers still alive when the data ends: will they churn in the next 90 days?
        rows = con.execute(
            f"""SELECT c.score, t.churned_within_90d_after_end
                FROM marts.customer_engagement_current AS c
                JOIN read_parquet('{truth}') AS t USING (customer_id)
                WHERE t.is_alive_at_end"""
        ).fetchall()
    scores = np.array([r[0] for r in rows], dtype=float)
    labels = np.array([bool(r[1]) for r in rows])
    return EngagementReport(
        as_of=str(as_of),
        customers=int(customers),
        band_shares={band: float(share) for band, share in shares},
        churners=int(labels.sum()),
        auc_churn_90d=roc_auc(-scores, labels),
    )


# --------------------------------------------------------------------------- calibration


@dataclass
class Calibration:
    """Weights fitted on the warehouse's own observed churn, and what they change."""

    as_of: str
    eval_snapshot: str
    fit_snapshots: list[str]
    customers: int  # rows of the evaluation snapshot (customers active on it)
    churners: int  # of them, not active `horizon` days later
    fit_rows: int
    penalty: float  # the L2 strength picked by the out-of-time AUC
    weights: dict[tuple[str, str], float]  # (source, event_type) -> proposed weight
    seed_weights: dict[tuple[str, str], float]
    auc: dict[str, float]  # seed, fitted (out of time, cross-fitted), proposed (in sample); truth_* on demo data
    band_shares: dict[str, dict[str, float]]  # "seed" / "proposed" -> band -> % of current customers
    current_customers: int = 0
    horizon_days: int = 90

    def markdown(self) -> str:
        bands = list(self.band_shares["seed"])
        shares = "\n".join(
            f"| {b} | {self.band_shares['seed'][b]:.1f} | {self.band_shares['proposed'][b]:.1f} |" for b in bands
        )
        changed = "\n".join(
            f"| {s} | {e} | {self.seed_weights[(s, e)]:g} | {w:g} |"
            for (s, e), w in sorted(self.weights.items())
            if w != self.seed_weights[(s, e)]
        )
        truth = ""
        if "truth_seed" in self.auc:
            truth = (f" Against the generator's truth (demo data only, not used by the fit): seed "
                     f"{self.auc['truth_seed']:.3f}, proposed {self.auc['truth_proposed']:.3f}.")
        return (
            f"Engagement weights calibrated on the warehouse's observed churn, as of {self.as_of}: label = "
            f"active on a snapshot (spec) and not active {self.horizon_days} days later. Fitted on {self.fit_rows:,} rows of "
            f"{len(self.fit_snapshots)} snapshot(s) ({self.fit_snapshots[0]} .. {self.fit_snapshots[-1]}), judged on "
            f"the later snapshot {self.eval_snapshot} ({self.customers:,} active customers, {self.churners:,} churned). "
            f"L2 penalty {self.penalty:g}.\n\n"
            f"ROC AUC of -score against that churn on {self.eval_snapshot}: seed weights (before) "
            f"{self.auc['seed']:.3f}, fitted weights (after; out of time, each half of the customers scored by "
            f"weights fitted on the other half) {self.auc['fitted_oot']:.3f}, proposed (rounded, fitted on all "
            f"snapshots: in sample) {self.auc['proposed']:.3f}.{truth}\n\n"
            f"Bands (the spec's, unchanged) on {self.as_of}, {self.current_customers:,} customers:\n\n"
            f"| band | % seed | % proposed |\n|---|---:|---:|\n{shares}\n\n"
            f"| source | event_type | seed weight | proposed |\n|---|---|---:|---:|\n{changed}\n"
        )

    def write_csv(self, path: Path) -> None:
        import csv

        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["source", "event_type", "weight"])
            for (source, event_type), weight in self.weights.items():
                writer.writerow([source, event_type, f"{weight:g}"])


def _fit_signed_logistic(
    X: np.ndarray, stays: np.ndarray, signs: np.ndarray, penalty: float, prior: np.ndarray
) -> np.ndarray:
    """Logistic regression of staying on event counts: slopes per count, shrunk towards the
    ``prior`` (the seed weights scaled to the data) by an L2 ``penalty``, each held to the sign
    the seed declares (+, -, or 0 for events that are not the customer's doing, such as an
    e-mail sent). An event with little evidence keeps about its prior weight; a frequent one
    moves to what the data says. Returns the slopes (intercept dropped)."""
    from scipy.optimize import minimize

    Z = X - X.mean(axis=0)
    n, k = Z.shape
    bounds = [(None, None)] + [(0, None) if s > 0 else (None, 0) if s < 0 else (0, 0) for s in signs]

    def loss(theta):
        eta = theta[0] + Z @ theta[1:]
        p = 1.0 / (1.0 + np.exp(-eta))
        gap = theta[1:] - prior
        # mean log-loss (log(1 + e^eta) - y * eta, stable) + penalty/2 * |w - prior|^2 / n
        value = np.mean(np.logaddexp(0.0, eta) - stays * eta) + 0.5 * penalty * gap @ gap / n
        grad = np.concatenate([[np.mean(p - stays)], Z.T @ (p - stays) / n + penalty * gap / n])
        return value, grad

    start = np.concatenate([[0.0], np.where(signs == 0, 0.0, prior)])
    fit = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return fit.x[1:]


def _prior(X: np.ndarray, stays: np.ndarray, w_seed: np.ndarray) -> np.ndarray:
    """The seed weights times the slope of a one-variable logistic fit on the seed score."""
    from scipy.optimize import minimize_scalar

    score = X @ w_seed
    score = score - score.mean()

    def loss(b):
        eta = np.log(stays.mean() / (1 - stays.mean())) + b * score
        return np.mean(np.logaddexp(0.0, eta) - stays * eta)

    spread = max(float(score.std()), 1e-9)
    slope = minimize_scalar(loss, bounds=(0.0, 5.0 / spread), method="bounded").x
    return w_seed * slope


def _two_significant_digits(value: float) -> float:
    """12.34 -> 12, 1.234 -> 1.2, 0.1234 -> 0.12: whole points for big weights, decimals for small."""
    if value == 0 or not np.isfinite(value):
        return 0.0
    digits = 1 - int(np.floor(np.log10(abs(value))))
    rounded = round(value, digits)
    return float(int(rounded)) if rounded == int(rounded) else float(rounded)


def _band_shares(scores: np.ndarray, bands: list[tuple]) -> dict[str, float]:
    out = {}
    for band, lower, lower_inclusive, upper, upper_inclusive in bands:
        inside = np.ones(len(scores), dtype=bool)
        if lower is not None:
            inside &= scores >= lower if lower_inclusive else scores > lower
        if upper is not None:
            inside &= scores <= upper if upper_inclusive else scores < upper
        out[band] = 100.0 * inside.sum() / max(len(scores), 1)
    return out


def _observed_churn(con, snapshots: list, as_of, horizon_days: int, active_window_days: int) -> pd.DataFrame:
    """customer_id, snapshot_date, churned: customers active on each snapshot (spec) and whether
    they are not active ``horizon_days`` later (the churn model's population and label)."""
    from orchestration.ml.churn_features import POPULATION_SQL

    con.register("_churn_snapshots", pd.DataFrame({"snapshot_date": pd.to_datetime(snapshots)}))
    try:
        con.execute(POPULATION_SQL.format(horizon=int(horizon_days), window=int(active_window_days)), {"as_of": as_of})
        out = con.execute("SELECT customer_id, snapshot_date, churned FROM _churn_population "
                          "WHERE churned IS NOT NULL ORDER BY snapshot_date, customer_id").df()
    finally:
        con.unregister("_churn_snapshots")
        con.execute("DROP TABLE IF EXISTS _churn_population")
    out["snapshot_date"] = pd.to_datetime(out["snapshot_date"]).dt.date
    return out


def _counts(con, rows: pd.DataFrame, keys: list[tuple[str, str]], window_days: int) -> np.ndarray:
    """Per row (customer_id, snapshot_date): events per (source, event_type) of ``keys`` in the
    score window ending on the snapshot (decay off)."""
    con.register("_calibration_rows", rows[["customer_id", "snapshot_date"]].assign(
        row_number=np.arange(len(rows)), snapshot_date=pd.to_datetime(rows["snapshot_date"])))
    try:
        frame = con.execute(
            """SELECT r.row_number, e.source, e.event_type, count(*) AS n
               FROM _calibration_rows AS r
               JOIN marts.fct_engagement_events AS e
                   ON e.customer_id = r.customer_id
                   AND e.occurred_date > CAST(r.snapshot_date AS DATE) - ?::INTEGER
                   AND e.occurred_date <= CAST(r.snapshot_date AS DATE)
               GROUP BY ALL""",
            [window_days],
        ).df()
    finally:
        con.unregister("_calibration_rows")
    X = np.zeros((len(rows), len(keys)))
    # -1: an event type the seed does not weigh
    col = pd.MultiIndex.from_tuples(keys).get_indexer(pd.MultiIndex.from_arrays([frame["source"], frame["event_type"]]))
    known = col >= 0
    np.add.at(X, (frame["row_number"].to_numpy()[known], col[known]), frame["n"].to_numpy(dtype=float)[known])
    return X


def calibrate_weights(
    warehouse: Path, truth: Path | None = None, *, window_days: int | None = None, horizon_days: int | None = None,
    active_window_days: int | None = None, step_days: int | None = None, max_fit_snapshots: int = 8,
) -> Calibration:
    """Fit the seed's event weights to the churn the warehouse itself observed (no generator truth).

    Snapshots every ``step_days`` back from S_eval = the latest day whose ``horizon_days`` label
    window is observed; on each, the customers active on it (spec) and their label (not active
    ``horizon_days`` later), and their event counts per event type in the score window ending on
    it. The weights (a logistic regression of staying, each weight held to the seed's sign and
    shrunk towards the seed's, ``_fit_signed_logistic``) are fitted on the snapshots before
    S_eval and judged on S_eval, out of time and cross-fitted by customer (a customer's earlier
    rows carry nearly the same label); the L2 penalty with the best such AUC is kept, and the
    proposal is refitted on all snapshots up to S_eval, rescaled so that the current customers'
    mean score stays the seed's (the spec's bands keep their meaning) and rounded to two
    significant digits, a declared positive or negative event keeping at least 0.1 points of its
    sign. ``truth`` (demo data): also report the AUC against the generator's churn, not used."""
    from datetime import timedelta

    from orchestration.ml.churn import customer_fold
    from orchestration.settings import load_settings

    settings = load_settings()
    window_days = window_days or settings.engagement_window_days
    horizon_days = horizon_days or settings.churn_horizon_days
    active_window_days = active_window_days or settings.active_window_days
    step_days = step_days or settings.churn_snapshot_step_days
    with duckdb.connect(str(warehouse), read_only=True) as con:
        as_of = con.execute("SELECT max(score_date) FROM marts.customer_engagement_current").fetchone()[0]
        first_day = con.execute("SELECT min(occurred_date) FROM marts.fct_engagement_events").fetchone()[0]
        seed_rows = con.execute(
            "SELECT source, event_type, weight FROM seeds.engagement_event_weights ORDER BY source, event_type"
        ).fetchall()
        bands = con.execute(
            "SELECT band, lower_bound, lower_inclusive, upper_bound, upper_inclusive "
            "FROM seeds.engagement_score_bands ORDER BY band_rank"
        ).fetchall()
        if as_of is None or first_day is None:
            raise ValueError("no engagement scores or events in the warehouse: nothing to calibrate on")
        s_eval = as_of - timedelta(days=horizon_days)
        # a snapshot needs a full score window of history
        snapshots = []
        day = s_eval
        while day - timedelta(days=window_days - 1) >= first_day and len(snapshots) <= max_fit_snapshots:
            snapshots.append(day)
            day -= timedelta(days=step_days)
        if len(snapshots) < 2:
            raise ValueError(
                f"calibration needs {window_days} days of events before a snapshot and {horizon_days} days after it, "
                f"for two snapshots {step_days} days apart (data {first_day} .. {as_of})")
        snapshots.sort()
        rows = _observed_churn(con, snapshots, as_of, horizon_days, active_window_days)
        keys = [(s, e) for s, e, _w in seed_rows]
        X = _counts(con, rows, keys, window_days)
        current = con.execute("SELECT customer_id, score_date AS snapshot_date FROM marts.customer_engagement_current "
                              "ORDER BY customer_id").df()
        current["snapshot_date"] = pd.to_datetime(current["snapshot_date"]).dt.date
        X_now = _counts(con, current, keys, window_days)
    seed_weights = {(s, e): float(w) for s, e, w in seed_rows}
    w_seed = np.array([seed_weights[k] for k in keys])
    signs = np.sign(w_seed)
    churned = rows["churned"].to_numpy(dtype=bool)
    stays = (~churned).astype(float)
    is_eval = (rows["snapshot_date"] == s_eval).to_numpy()
    fit = ~is_eval
    if churned[is_eval].all() or not churned[is_eval].any() or churned[fit].all() or not churned[fit].any():
        raise ValueError("calibration needs churned and retained customers on the snapshots")
    fold = customer_fold(rows["customer_id"])

    best = None
    for penalty in (10.0, 100.0, 1000.0, 10000.0):
        out_of_time = np.zeros(is_eval.sum())
        for k in (0, 1):
            train = fit & (fold != k)
            w = _fit_signed_logistic(X[train], stays[train], signs, penalty, _prior(X[train], stays[train], w_seed))
            test = fold[is_eval] == k
            out_of_time[test] = X[is_eval][test] @ w
        auc = roc_auc(-out_of_time, churned[is_eval])
        if best is None or auc > best[1]:
            best = (penalty, auc)
    penalty, fitted_oot = best
    slopes = _fit_signed_logistic(X, stays, signs, penalty, _prior(X, stays, w_seed))
    seed_now = X_now @ w_seed
    fitted_mean = float((X_now @ slopes).mean()) if len(X_now) else 0.0
    factor = float(seed_now.mean() / fitted_mean) if fitted_mean > 0 and seed_now.mean() > 0 else 1.0
    proposed = np.array([_two_significant_digits(w) for w in slopes * factor])
    proposed = np.where(signs > 0, np.maximum(proposed, 0.1), np.where(signs < 0, np.minimum(proposed, -0.1), 0.0))
    auc = {
        "seed": roc_auc(-(X[is_eval] @ w_seed), churned[is_eval]),
        "fitted_oot": fitted_oot,
        "proposed": roc_auc(-(X[is_eval] @ proposed), churned[is_eval]),
    }
    if truth is not None:
        t = pd.read_parquet(truth).set_index("customer_id")
        alive = t.reindex(current["customer_id"])
        keep = alive["is_alive_at_end"].fillna(False).to_numpy(dtype=bool)
        label = alive["churned_within_90d_after_end"].fillna(False).to_numpy(dtype=bool)[keep]
        auc["truth_seed"] = roc_auc(-seed_now[keep], label)
        auc["truth_proposed"] = roc_auc(-(X_now @ proposed)[keep], label)
    return Calibration(
        as_of=str(as_of), eval_snapshot=str(s_eval), fit_snapshots=[str(d) for d in snapshots[:-1]],
        customers=int(is_eval.sum()), churners=int(churned[is_eval].sum()), fit_rows=int(fit.sum()),
        penalty=penalty, weights={k: float(w) for k, w in zip(keys, proposed)}, seed_weights=seed_weights, auc=auc,
        band_shares={"seed": _band_shares(seed_now, bands), "proposed": _band_shares(X_now @ proposed, bands)},
        current_customers=len(current), horizon_days=horizon_days,
    )
