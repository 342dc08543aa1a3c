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
