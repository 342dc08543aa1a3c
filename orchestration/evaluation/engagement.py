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
    """Weights fitted on one warehouse and its truth, and what they change."""

    as_of: str
    customers: int
    churners: int
    penalty: float  # the L2 strength picked by cross-validation
    weights: dict[tuple[str, str], float]  # (source, event_type) -> proposed weight
    seed_weights: dict[tuple[str, str], float]
    auc: dict[str, float]  # seed, seed recomputed check, fitted (cross-validated), proposed
    band_shares: dict[str, dict[str, float]]  # "seed" / "proposed" -> band -> % of customers

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
        return (
            f"Engagement weights calibrated on {self.as_of}: {self.customers:,} customers alive at the end, "
            f"{self.churners:,} churn within 90 days (truth). L2 penalty {self.penalty:g}.\n\n"
            f"ROC AUC of -score against that churn: seed weights {self.auc['seed']:.3f}, fitted weights "
            f"{self.auc['fitted_cv']:.3f} (5-fold cross-validated, 4 repeats), proposed (rounded) weights "
            f"{self.auc['proposed']:.3f} (in sample).\n\n"
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


def calibrate_weights(
    warehouse: Path, truth: Path, *, window_days: int | None = None, folds: int = 5, repeats: int = 4, seed: int = 0
) -> Calibration:
    """Fit the seed's event weights to real churn on generated data (README, "Calibrated default weights").

    Counts per customer and event type in the score window ending on the as-of date (decay off),
    label = the truth's churn within 90 days (customers alive at the end). The weights are
    shrunk towards the seed's (``_fit_signed_logistic``), by the L2 penalty with the best
    cross-validated AUC; the slopes are then scaled so that the mean score
    stays that of the seed weights (the bands keep their meaning) and rounded to two significant
    digits, a declared positive or negative event keeping at least 0.1 points of its sign."""
    from sklearn.model_selection import StratifiedKFold

    if window_days is None:
        from orchestration.settings import load_settings

        window_days = load_settings().engagement_window_days
    with duckdb.connect(str(warehouse), read_only=True) as con:
        as_of = con.execute("SELECT max(score_date) FROM marts.customer_engagement_current").fetchone()[0]
        seed_rows = con.execute(
            "SELECT source, event_type, weight FROM seeds.engagement_event_weights ORDER BY source, event_type"
        ).fetchall()
        bands = con.execute(
            "SELECT band, lower_bound, lower_inclusive, upper_bound, upper_inclusive "
            "FROM seeds.engagement_score_bands ORDER BY band_rank"
        ).fetchall()
        frame = con.execute(
            f"""WITH alive AS (
                    SELECT c.customer_id, c.score, t.churned_within_90d_after_end AS churned
                    FROM marts.customer_engagement_current AS c
                    JOIN read_parquet('{truth}') AS t USING (customer_id)
                    WHERE t.is_alive_at_end)
                SELECT a.customer_id, a.score, a.churned, e.source, e.event_type, count(e.customer_id) AS n
                FROM alive AS a
                LEFT JOIN marts.fct_engagement_events AS e
                    ON e.customer_id = a.customer_id
                    AND e.occurred_date > ?::DATE - ?::INTEGER AND e.occurred_date <= ?::DATE
                GROUP BY ALL""",
            [as_of, window_days, as_of],
        ).df()
    keys = [(s, e) for s, e, _w in seed_rows]
    seed_weights = {(s, e): float(w) for s, e, w in seed_rows}
    customers = frame.drop_duplicates("customer_id").set_index("customer_id").sort_index()
    ids = customers.index
    X = np.zeros((len(ids), len(keys)))
    row = pd.Index(ids).get_indexer(frame["customer_id"])
    # -1: a customer without events in the window, or an event type the seed does not weigh
    col = pd.MultiIndex.from_tuples(keys).get_indexer(pd.MultiIndex.from_arrays([frame["source"], frame["event_type"]]))
    known = col >= 0
    np.add.at(X, (row[known], col[known]), frame["n"].to_numpy(dtype=float)[known])
    churned = customers["churned"].to_numpy(dtype=bool)
    stays = (~churned).astype(float)
    w_seed = np.array([seed_weights[k] for k in keys])
    signs = np.sign(w_seed)
    seed_score = X @ w_seed
    # the recomputed seed score must be the warehouse's: same window, same events
    recomputed_gap = float(np.max(np.abs(seed_score - customers["score"].to_numpy(dtype=float)))) if len(ids) else 0.0

    # repeated cross-validation: one split's AUC moves by more than the penalties differ
    repeats = [
        list(StratifiedKFold(folds, shuffle=True, random_state=seed + r).split(X, churned)) for r in range(repeats)
    ]
    best = None
    for penalty in (10.0, 100.0, 1000.0, 10000.0):
        aucs = []
        for splits in repeats:
            out_of_fold = np.zeros(len(ids))
            for train, test in splits:
                prior = _prior(X[train], stays[train], w_seed)
                out_of_fold[test] = X[test] @ _fit_signed_logistic(X[train], stays[train], signs, penalty, prior)
            aucs.append(roc_auc(-out_of_fold, churned))
        auc = float(np.mean(aucs))
        if best is None or auc > best[1]:
            best = (penalty, auc)
    penalty, fitted_cv = best
    slopes = _fit_signed_logistic(X, stays, signs, penalty, _prior(X, stays, w_seed))
    fitted_mean = float((X @ slopes).mean())
    factor = float(seed_score.mean() / fitted_mean) if fitted_mean > 0 else 1.0
    proposed = np.array([_two_significant_digits(w) for w in slopes * factor])
    # a declared positive or negative event keeps its sign, at least 0.1 points
    proposed = np.where(signs > 0, np.maximum(proposed, 0.1), np.where(signs < 0, np.minimum(proposed, -0.1), 0.0))
    proposed_score = X @ proposed
    return Calibration(
        as_of=str(as_of),
        customers=len(ids),
        churners=int(churned.sum()),
        penalty=penalty,
        weights={k: float(w) for k, w in zip(keys, proposed)},
        seed_weights=seed_weights,
        auc={
            "seed": roc_auc(-seed_score, churned),
            "seed_recomputed_max_gap": recomputed_gap,
            "fitted_cv": fitted_cv,
            "proposed": roc_auc(-proposed_score, churned),
        },
        band_shares={"seed": _band_shares(seed_score, bands), "proposed": _band_shares(proposed_score, bands)},
    )
