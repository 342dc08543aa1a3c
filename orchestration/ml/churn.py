"""Churn model: learn the spec's label on past snapshots, judge it on the latest observed one,
score the customers active on the run date.

* Snapshots: the run date and every ``CEW_CHURN_SNAPSHOT_STEP_DAYS`` (7) days before it, back to
  14 days after the first order; features per snapshot in SQL (``churn_features``), for the
  labelled snapshots (S + horizon <= run date) and the run date only: the ones in between are
  neither learnt from nor scored (on 100,000 customers x 120 days they were 4/5 of the rows).
* Training sample (``CEW_CHURN_MAX_TRAIN_ROWS``, 200,000; ``max_train_rows``): when the labelled
  rows are more, the models learn from a sample of whole customers, taken in the order of the MD5
  of their id while their labelled rows fit the cap (reproducible, and a customer's snapshots
  stay together, so cross-fitting by customer still holds); features of the other customers are
  computed only on the evaluation snapshot and the run date. The evaluation snapshot is judged
  on every customer active on it, and every customer active on the run date is scored. Training
  cost then stops growing with customers and history; the run row's message says when sampled.
* Rolling-origin split: the *evaluation* snapshot is the latest one whose label window is fully
  observed (S + horizon <= run date); the model is trained on earlier snapshots. When the history
  allows, only training snapshots whose label window ended by the evaluation snapshot are used
  (``split = gapped``: nothing the model learns from happened after S_eval) if that keeps at least
  half the rows of all earlier labelled snapshots; otherwise all earlier labelled snapshots
  (``split = overlapping_cross_fit``: training labels overlap the evaluation window, so each half
  of the customers is judged by a model trained on the other half: a customer's row of S_eval - 7
  carries almost the label of their row of S_eval, and a model that saw it would be judged on
  what it memorised. Measured on 2,000 customers x 200 days: the gapped split had 384 training
  rows and lost to the recency rule; the overlapping one scored 0.875 without cross-fitting and
  0.743 with it, for a model whose AUC against the generator's truth is 0.711.
* Model: scikit-learn ``HistGradientBoostingClassifier`` inside ``CalibratedClassifierCV``
  (3 folds; isotonic with at least 1,000 training rows, else sigmoid), in two candidate
  configurations (``CANDIDATES``) judged on the evaluation snapshot as above; the better ROC AUC
  is kept (out-of-time model choice; the kept AUC is that of a choice between two, slightly
  optimistic). The production model, the kept candidate, is refitted on every labelled snapshot
  (the evaluation one included; the sampled customers' rows) and scores the run date.
* Retraining (``retrain_days``, ``CEW_CHURN_RETRAIN_DAYS``): a run reuses the newest saved model
  trained in the ``retrain_days`` before it whose signature (file format, ``FEATURE_SET_VERSION``,
  the features offered, horizon, active window) is the run's, and only scores; it computes the
  features of the run date and the newest labelled snapshot, where the saved model is judged
  out of time once that snapshot is past its training window. ``force_retrain`` (``cew run
  --full-refresh`` / ``--retrain-churn``) trains regardless. ML stage cost on the nights between
  retrainings: features of two snapshots and the scoring.
* Baselines on the same evaluation rows: ``recency_rule`` (days since the last completed order,
  no order = the tenure) and ``bgnbd_p_alive`` (1 - P(alive) of a BG/NBD fitted on the orders up
  to S_eval; a customer without orders counts as P(alive) = 1).
* Metrics per model: ROC AUC, PR AUC (average precision), Brier score (probabilities only: not for
  the recency rule), top-decile lift (churn rate of the top 10% of scores / overall churn rate).
* Risk band: ``high`` >= 0.5, ``medium`` >= 0.25, else ``low`` (probabilities are calibrated, so
  a band reads as "at least one in two / one in four will not be active in 90 days").
* Drivers, per customer: each feature's contribution to the model's raw score, the log-odds of
  churn before calibration (positive raises the risk), by path attribution over the fitted trees
  (``orchestration/ml/tree_paths.py``): every split a customer passes on feature j adds to j the
  change of the expected score (training-row weighted) from the node to the branch taken, so a
  customer's contributions add up to their score minus the average training customer's. With
  ``CalibratedClassifierCV`` the contributions are the mean over its 3 fold models (each has its
  own trees; the mean raw score is what they add up to, and the monotone calibration keeps their
  direction). The three features with the largest positive contribution are the drivers (effect
  = the contribution, in log-odds); fewer when fewer raise the risk. One pass over the trees for
  all customers: on 50,000 x 40 features 5.1 s against 76.5 s for the occlusion it replaced (one
  prediction per feature; ``benchmarks/drivers_timing.py``); the contributions part of it 2.3 s
  since the leaves come from sklearn's compiled routing (4.5 s routed in numpy, same values).
* Fallback (``model_status`` = ``recency_rule``): with too little labelled history to train
  (under 90 days + 2 snapshots, fewer than ``MIN_TRAIN_ROWS`` rows or ``MIN_CLASS_ROWS`` of a
  class, one class on the evaluation snapshot, no orders at all), or when the model's ROC AUC is
  below the recency rule's (also a reused saved model's, on its out-of-time evaluation, or on its
  training run's when no later labelled snapshot exists), every customer active on the run date is scored by
  ``recency_rule_probability`` (drivers null) and ``ChurnResult.status`` says why: the night
  never goes without scores.
* The fitted production model is saved with joblib to ``<warehouse dir>/models/churn-<version>.joblib``
  (the version is the run date and run id), with its features and training window.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.ml import clv_models as cm
from orchestration.ml import tree_paths
from orchestration.ml.churn_features import (
    CATEGORICAL_FEATURES,
    FEATURE_SET_VERSION,
    FEATURES,
    build_features,
    snapshot_dates,
)

MODEL_NAME = "hgb_calibrated"
MODEL_FORMAT_VERSION = 2
# a calibrated gradient-boosting model needs about this many labelled rows: on 400 customers x
# 120 days (130 rows) it lost to the recency rule, on 2,000 x 200 (8,762 rows) it beat it
MIN_TRAIN_ROWS = 1000
# the gapped split is used when it keeps at least this share of the overlapping one's rows: with
# a 90-day horizon and a few months of history it would otherwise train on a handful of snapshots
MIN_GAPPED_SHARE = 0.5
MIN_CLASS_ROWS = 10
MIN_KNOWN_ROWS = 30
RISK_BANDS = ((0.5, "high"), (0.25, "medium"), (0.0, "low"))

CHURN_SCORES_COLUMNS = {
    "customer_id": "VARCHAR",
    "snapshot_date": "DATE",
    "churn_probability": "DOUBLE",
    "risk_band": "VARCHAR",
    "driver_1": "VARCHAR",
    "driver_1_effect": "DOUBLE",
    "driver_2": "VARCHAR",
    "driver_2_effect": "DOUBLE",
    "driver_3": "VARCHAR",
    "driver_3_effect": "DOUBLE",
    "recency_days": "BIGINT",
    "engagement_score": "DOUBLE",
    "model_status": "VARCHAR",
    "model_version": "VARCHAR",
    "run_id": "VARCHAR",
}

# ml.customer_churn_scores.model_status: which model scored the customer (README "CLV and churn")
STATUS_MODEL = MODEL_NAME  # the trained, calibrated model
STATUS_RECENCY_RULE = "recency_rule"  # fallback: recency / (recency + horizon), see recency_rule_probability

CHURN_MODEL_RUNS_COLUMNS = {
    "run_id": "VARCHAR",
    "run_date": "DATE",
    "computed_at": "TIMESTAMP",
    "model": "VARCHAR",
    "trained": "BOOLEAN",
    "message": "VARCHAR",
    "horizon_days": "INTEGER",
    "split": "VARCHAR",
    "train_start_snapshot": "DATE",
    "train_end_snapshot": "DATE",
    "eval_snapshot": "DATE",
    "train_rows": "BIGINT",
    "eval_rows": "BIGINT",
    "eval_churn_rate": "DOUBLE",
    "roc_auc": "DOUBLE",
    "pr_auc": "DOUBLE",
    "brier": "DOUBLE",
    "top_decile_lift": "DOUBLE",
    "calibration": "VARCHAR",
    "model_version": "VARCHAR",
    "model_path": "VARCHAR",
    "production_train_rows": "BIGINT",
    "scored_customers": "BIGINT",
    "seconds_features": "DOUBLE",
    "seconds_train": "DOUBLE",
    "seconds_score": "DOUBLE",
}


@dataclass
class ChurnResult:
    scores: pd.DataFrame
    runs: pd.DataFrame
    features: pd.DataFrame
    eval_frame: pd.DataFrame | None = None  # customer_id, snapshot, label, model and baseline scores
    model_path: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    status: str = STATUS_MODEL  # what scored the run date's customers
    status_reason: str = ""  # why the fallback, when it is one
    expected_scores: int | None = None  # customers active on the run date (each must get a score)
    reused_model: bool = False  # a saved model scored the run (CEW_CHURN_RETRAIN_DAYS), none was trained

    def metrics(self, model: str) -> dict:
        rows = self.runs[self.runs["model"] == model]
        return rows.iloc[0].to_dict() if len(rows) else {}


def risk_band(p: np.ndarray) -> np.ndarray:
    out = np.full(p.shape, None, dtype=object)
    for threshold, name in reversed(RISK_BANDS):
        out[p >= threshold] = name
    return out


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    y = np.asarray(y, dtype=float)
    if y.size == 0 or y.mean() == 0:
        return float("nan")
    k = max(1, int(math.ceil(0.1 * y.size)))
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def evaluate(y, score, *, probability: bool) -> dict:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    both = 0 < y.sum() < y.size
    return {
        "roc_auc": float(roc_auc_score(y, score)) if both else None,
        "pr_auc": float(average_precision_score(y, score)) if both else None,
        "brier": float(brier_score_loss(y, np.clip(score, 0, 1))) if probability else None,
        "top_decile_lift": top_decile_lift(y, score),
        "eval_rows": int(y.size),
        "eval_churn_rate": float(y.mean()) if y.size else None,
    }


class _Encoder:
    """Features frame -> float matrix; each categorical feature becomes a code of a fixed list of
    its values (those seen when the encoder was made, plus "none"; an unseen value codes as "none")."""

    def __init__(self, frame: pd.DataFrame, features: list[str]):
        self.features = features
        self.categories = {
            name: sorted(set(frame[name].dropna().astype(str)) | {"none"})
            for name in features if name in CATEGORICAL_FEATURES
        }

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for name in self.features:
            if name in self.categories:
                values = self.categories[name]
                codes = pd.Categorical(frame[name].fillna("none").astype(str), categories=values).codes
                cols.append(np.where(codes < 0, values.index("none"), codes).astype(float))
            else:
                cols.append(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.empty((len(frame), 0))

    @classmethod
    def from_saved(cls, features: list[str], categories: dict[str, list[str]]) -> "_Encoder":
        encoder = cls.__new__(cls)
        encoder.features, encoder.categories = list(features), dict(categories)
        return encoder

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([name in self.categories for name in self.features])


# Candidate configurations, chosen per training run by out-of-time validation (the ROC AUC on the
# evaluation snapshot, each scored as the production model would be: cross-fitted when the
# labels overlap). "deep" is the configuration used before candidates existed; "shallow" trades
# interactions for stability, which wins when the training rows are few or noisy.
CANDIDATES = {
    "deep": dict(learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0),
    "shallow": dict(learning_rate=0.05, max_iter=150, max_leaf_nodes=7, min_samples_leaf=50, l2_regularization=1.0),
}


def _make_model(n_rows: int, categorical_mask: np.ndarray, seed: int = 0, candidate: str = "deep"):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    base = HistGradientBoostingClassifier(
        **CANDIDATES[candidate], categorical_features=categorical_mask, early_stopping=False, random_state=seed,
    )
    method = "isotonic" if n_rows >= 1000 else "sigmoid"
    return CalibratedClassifierCV(base, method=method, cv=3), method


def customer_fold(customer_ids: pd.Series) -> np.ndarray:
    """0 or 1 per customer, stable across runs and snapshots (the last hex digit of an MD5)."""
    import hashlib

    # one MD5 per distinct customer, not per row (a customer has a row per snapshot)
    codes, uniques = pd.factorize(pd.Series(customer_ids).astype(str))
    fold = np.array([int(hashlib.md5(c.encode()).hexdigest()[-1], 16) % 2 for c in uniques], dtype=np.int64)
    return fold[codes] if len(codes) else np.empty(0, dtype=np.int64)


def _recency_score(frame: pd.DataFrame) -> np.ndarray:
    rec = pd.to_numeric(frame["recency_days"], errors="coerce")
    return rec.fillna(pd.to_numeric(frame["tenure_days"], errors="coerce") + 1).to_numpy(dtype=float)


def recency_rule_probability(frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """The fallback score: d / (d + horizon), d = days since the last completed order (no order:
    the tenure + 1, as the ``recency_rule`` baseline). 0 for an order today, 0.5 (the ``high``
    band) at one horizon without an order, towards 1 beyond; monotone in the baseline, so it
    ranks customers exactly as the rule the model is judged against. Not calibrated: there are
    no labels to calibrate it on when it is used."""
    d = np.clip(np.nan_to_num(_recency_score(frame), nan=0.0), 0.0, None)
    return d / (d + float(horizon_days))


def _recency_rule_scores(current: pd.DataFrame, as_of: date, horizon_days: int, run_id: str) -> pd.DataFrame:
    p = recency_rule_probability(current, horizon_days)
    none = np.full(len(current), None, dtype=object)
    return pd.DataFrame({
        "customer_id": current["customer_id"].to_numpy(), "snapshot_date": as_of,
        "churn_probability": p, "risk_band": risk_band(p),
        **{f"driver_{k + 1}": none for k in range(3)},
        **{f"driver_{k + 1}_effect": np.full(len(current), np.nan) for k in range(3)},
        "recency_days": pd.to_numeric(current["recency_days"], errors="coerce").to_numpy(),
        "engagement_score": pd.to_numeric(current["engagement_score"], errors="coerce").to_numpy(dtype=float),
        "model_status": STATUS_RECENCY_RULE, "model_version": f"{STATUS_RECENCY_RULE}-{as_of.isoformat()}",
        "run_id": run_id,
    })


def _bgnbd_dropout(con, customers: pd.Series, snapshot: date) -> np.ndarray:
    """1 - P(alive) at ``snapshot`` from a BG/NBD fitted on the orders up to it (0 without orders)."""
    from orchestration.ml.clv import ORDERS_SQL, fit_models

    orders = con.execute(ORDERS_SQL, [snapshot]).df()
    out = pd.Series(0.0, index=customers.to_numpy())
    if not len(orders):
        return out.to_numpy()
    rfm = cm.rfm_from_transactions(orders["customer_id"].to_numpy(), orders["ordered_date"].to_numpy(),
                                   orders["amount"].to_numpy(), snapshot)
    bg = fit_models(rfm).bg
    if bg is None:
        return np.full(len(customers), np.nan)
    p_alive = pd.Series(cm.bgnbd_p_alive(bg, rfm.frequency, rfm.recency_weeks, rfm.T_weeks), index=rfm.customer_id)
    return (1.0 - p_alive.reindex(customers.to_numpy()).fillna(1.0)).to_numpy()


# rows predicted at once: HGB walks every row through one tree, then the next; a chunk this size
# stays in the CPU cache across the trees (3.3x faster than all 478k rows at once at 1M customers,
# the same probabilities: benchmarks/results.md)
_PREDICT_CHUNK_ROWS = 5_000


def churn_probability(model, X: np.ndarray) -> np.ndarray:
    """P(churn) per row of X: ``model.predict_proba`` chunk by chunk (rows are independent)."""
    if len(X) == 0:
        return np.empty(0)
    return np.concatenate([model.predict_proba(X[start:start + _PREDICT_CHUNK_ROWS])[:, 1]
                           for start in range(0, len(X), _PREDICT_CHUNK_ROWS)])


def drivers(model, X: np.ndarray, names: list[str], top: int = 3):
    """Per row: the probability, and the ``top`` features raising the log-odds of churn most
    (names, and their contributions; None/NaN where fewer than ``top`` raise it)."""
    _, effects, raw = tree_paths.contributions_and_raw(model, X)
    # the probability from the raw scores the contributions' leaves give (predict_proba's
    # numbers, without its second pass over the trees: 6.9 of 24.5 s at 478k rows)
    p = tree_paths.probability(model, raw) if len(X) else None
    if p is None:
        p = churn_probability(model, X)
    order = np.argsort(-effects, axis=1, kind="stable")[:, :top]
    names_arr = np.asarray(names, dtype=object)
    top_names = names_arr[order]
    top_effects = np.take_along_axis(effects, order, axis=1)
    top_names = np.where(top_effects > 1e-9, top_names, None)
    top_effects = np.where(top_effects > 1e-9, top_effects, np.nan)
    return p, top_names, top_effects


def _sample_note(sample) -> str:
    if not sample.capped:
        return ""
    return (f"; trained on a sample of {sample.sampled_customers:,} of {sample.labelled_customers:,} customers "
            f"({sample.sampled_rows:,} of {sample.labelled_rows:,} labelled rows; CEW_CHURN_MAX_TRAIN_ROWS "
            f"{sample.max_train_rows:,}), evaluated and scored on everyone")


# customers (who ever ordered) from which HGB's trees run on `threads` OpenMP threads
PARALLEL_MIN_CUSTOMERS = 50_000


def train_and_score(con, as_of: date, *, threads: int = 1, **kwargs) -> ChurnResult:
    """See the module docstring. BLAS runs single-threaded, and OpenMP (HistGradientBoosting's
    trees) too below ``PARALLEL_MIN_CUSTOMERS``: on small data, on a small busy machine, the
    thread hand-off of each parallel region costs far more than it saves (70 s vs 2 s measured).
    From there on it runs on ``threads`` (the nightly's ML runs alone; at 1M customers on two
    threads the scoring step took 28 s instead of 41 s; the training step, with the chunked
    predictions too, 42 s instead of 96 s: benchmarks/results.md)."""
    import sklearn.calibration  # noqa: F401  (load OpenMP before limiting it: threadpoolctl
    import sklearn.ensemble  # noqa: F401   only limits the libraries loaded at that moment)
    from threadpoolctl import threadpool_limits

    customers = con.execute("SELECT count(DISTINCT customer_id) FROM staging.stg_shop__orders").fetchall()[0][0]
    openmp = max(1, threads) if customers >= PARALLEL_MIN_CUSTOMERS else 1
    with threadpool_limits(limits={"blas": 1, "openmp": openmp}):
        return _train_and_score(con, as_of, **kwargs)


def _signature(horizon_days: int, active_window_days: int) -> dict:
    """What a saved model must match to be reused: its file format, the feature definitions and
    the label's settings. A change of any of them retrains."""
    return {"format_version": MODEL_FORMAT_VERSION, "feature_set_version": FEATURE_SET_VERSION,
            "features_offered": list(FEATURES), "horizon_days": horizon_days,
            "active_window_days": active_window_days}


def saved_model(models_dir: Path | None, as_of: date, retrain_days: int, signature: dict) -> tuple[Path, dict] | None:
    """The newest saved model trained on a run date in the ``retrain_days`` before ``as_of`` (not
    after it) whose signature matches; None when retraining is due."""
    import joblib

    if models_dir is None or retrain_days <= 0 or not models_dir.is_dir():
        return None
    found = []
    for path in models_dir.glob("churn-*.joblib"):
        try:
            payload = joblib.load(path)
        except Exception:  # a truncated or foreign file is not reused (and not deleted)
            continue
        trained = payload.get("trained_as_of") if isinstance(payload, dict) else None
        if trained is None or payload.get("signature") != signature:
            continue
        if 0 <= (as_of - trained).days < retrain_days:
            found.append((trained, path.stat().st_mtime, path, payload))
    if not found:
        return None
    _, _, path, payload = max(found, key=lambda f: (f[0], f[1]))
    return path, payload


def _eval_candidates(train, evaluation, encoder, mask, split, seed):
    """Per candidate: the evaluation snapshot's probabilities and the calibration method. Gapped:
    one model on the training snapshots. Overlapping: a customer's training row of S_eval - 7
    carries almost the label of their evaluation row, so the model must not have seen the
    customer it is judged on; cross-fitted by customer, each half of the customers is scored by
    a model trained on the other half's earlier snapshots."""
    out = {}
    X_eval = encoder.matrix(evaluation)
    for candidate in CANDIDATES:
        if split == "gapped":
            model, method = _make_model(len(train), mask, seed, candidate)
            model.fit(encoder.matrix(train), train["churned"].to_numpy())
            p_eval = churn_probability(model, X_eval)
        else:
            fold_of = customer_fold(evaluation["customer_id"])
            train_fold = customer_fold(train["customer_id"])
            p_eval = np.empty(len(evaluation))
            for fold in (0, 1):
                part = train[train_fold != fold]
                model, method = _make_model(len(part), mask, seed, candidate)
                model.fit(encoder.matrix(part), part["churned"].to_numpy())
                rows = fold_of == fold
                if rows.any():
                    p_eval[rows] = churn_probability(model, X_eval[rows])
        out[candidate] = (p_eval, method)
    return out


def _train_and_score(con, as_of: date, *, horizon_days: int = 90, active_window_days: int = 90,
                    snapshot_step_days: int = 7, max_train_rows: int | None = None,
                    models_dir: Path | None = None, run_id: str | None = None, seed: int = 0,
                    retrain_days: int = 0, force_retrain: bool = False) -> ChurnResult:
    import joblib

    run_id = run_id or uuid.uuid4().hex[:12]
    computed_at = datetime.now(timezone.utc).replace(tzinfo=None)
    seconds: dict[str, float] = {}
    first = con.execute("SELECT min(ordered_date) FROM staging.stg_shop__orders WHERE ordered_date <= ?", [as_of]).fetchall()[0][0]
    base_row = {"run_id": run_id, "run_date": as_of, "computed_at": computed_at, "horizon_days": horizon_days}

    def result(rows, scores=None, features=None, eval_frame=None, path=None, fallback_reason=""):
        current = features[features["snapshot_date"] == as_of] if features is not None and len(features) else None
        if fallback_reason:
            scores = _recency_rule_scores(current if current is not None else pd.DataFrame(
                columns=["customer_id", "recency_days", "tenure_days", "engagement_score"]), as_of, horizon_days, run_id)
            rows = [{**r, "scored_customers": len(scores),
                     "message": r["message"] if fallback_reason in (r.get("message") or "")
                     else f"{r.get('message')}; scored by the recency rule: {fallback_reason}"}
                    if r["model"] == MODEL_NAME else r for r in rows]
        runs = pd.DataFrame([{**base_row, **r} for r in rows])
        for col in CHURN_MODEL_RUNS_COLUMNS:
            if col not in runs.columns:
                runs[col] = None
        runs = runs.astype(object).where(runs.notna(), None)
        scores = scores if scores is not None else pd.DataFrame(columns=list(CHURN_SCORES_COLUMNS))
        return ChurnResult(scores, runs, features if features is not None else pd.DataFrame(), eval_frame, path, seconds,
                           STATUS_RECENCY_RULE if fallback_reason else STATUS_MODEL, fallback_reason,
                           len(current) if current is not None else 0)

    if first is None:
        # nobody ordered yet: the paid subscribers active on the run date are still scored
        feats, _ = build_features(con, [as_of], as_of, horizon_days=horizon_days, active_window_days=active_window_days)
        why = "not trained: no completed orders"
        return result([{"model": MODEL_NAME, "trained": False, "message": why}], features=feats, fallback_reason=why)
    signature = _signature(horizon_days, active_window_days)
    reuse = None if force_retrain else saved_model(models_dir, as_of, retrain_days, signature)
    started = time.perf_counter()
    # the labelled snapshots (trained and evaluated on) and the run date (scored); the ones in
    # between are neither, so their features are not computed. A reused model needs only the
    # latest labelled snapshot (its evaluation) and the run date.
    snaps = [s for s in snapshot_dates(first, as_of, snapshot_step_days) if s + timedelta(days=horizon_days) <= as_of]
    if reuse is not None:  # the newest labelled snapshot, if the saved model has not learnt from it
        snaps = [s for s in snaps[-1:] if s > reuse[1]["train_end_snapshot"]]
    snaps.append(as_of)
    feats, sample = build_features(con, snaps, as_of, horizon_days=horizon_days, active_window_days=active_window_days,
                                   max_train_rows=None if reuse is not None else max_train_rows)
    seconds["features"] = time.perf_counter() - started
    labelled = feats[feats["churned"].notna()].copy()
    labelled["churned"] = labelled["churned"].astype(bool).astype(int)
    label_snaps = sorted(labelled["snapshot_date"].unique())
    if reuse is not None:
        return _score_with_saved(con, as_of, reuse, feats, labelled, result, seconds, run_id)
    # models learn from the sampled customers only; the evaluation snapshot is judged on everyone
    sampled = labelled[labelled["in_training_sample"]]

    def not_trained(why: str):
        return result([{"model": MODEL_NAME, "trained": False, "message": f"not trained: {why}",
                        "seconds_features": seconds["features"]}], features=feats, fallback_reason=f"not trained: {why}")

    if len(label_snaps) < 2:
        return not_trained(
            f"{len(label_snaps)} snapshot(s) with a fully observed {horizon_days}-day label window "
            f"(history from {first} to {as_of}; need 2)")
    s_eval = label_snaps[-1]
    earlier = [s for s in label_snaps if s < s_eval]
    gapped = [s for s in earlier if s + timedelta(days=horizon_days) <= s_eval]
    train = sampled[sampled["snapshot_date"].isin(gapped)]
    split = "gapped"
    overlapping_rows = int(sampled["snapshot_date"].isin(earlier).sum())
    if (
        len(train) < max(MIN_TRAIN_ROWS, MIN_GAPPED_SHARE * overlapping_rows)
        or min(train["churned"].sum(), (1 - train["churned"]).sum()) < MIN_CLASS_ROWS
    ):
        train = sampled[sampled["snapshot_date"].isin(earlier)]
        split = "overlapping"
    evaluation = labelled[labelled["snapshot_date"] == s_eval]
    n_pos = int(train["churned"].sum())
    if len(train) < MIN_TRAIN_ROWS or min(n_pos, len(train) - n_pos) < MIN_CLASS_ROWS:
        return not_trained(f"{len(train)} training rows, {n_pos} churned (need {MIN_TRAIN_ROWS} rows, "
                           f"{MIN_CLASS_ROWS} of each class)")
    if evaluation["churned"].nunique() < 2:
        return not_trained(f"the evaluation snapshot {s_eval} has one class only")

    # a feature without two distinct values, or known for fewer than MIN_KNOWN_ROWS training rows,
    # carries nothing (and an all-missing column in a calibration fold trips HGB's binning)
    used = [f for f in FEATURES if train[f].nunique(dropna=True) >= 2 and train[f].notna().sum() >= MIN_KNOWN_ROWS]
    encoder = _Encoder(feats, used)
    mask = encoder.categorical_mask
    started = time.perf_counter()
    candidates = _eval_candidates(train, evaluation, encoder, mask, split, seed)
    if split == "overlapping":
        split = "overlapping_cross_fit"
    seconds["train_eval_model"] = time.perf_counter() - started
    y_eval = evaluation["churned"].to_numpy()
    candidate_auc = {c: evaluate(y_eval, p, probability=True)["roc_auc"] or 0.0 for c, (p, _) in candidates.items()}
    chosen = max(candidate_auc, key=lambda c: (candidate_auc[c], c == "deep"))
    p_eval, method = candidates[chosen]
    recency = _recency_score(evaluation)
    started = time.perf_counter()
    dropout = _bgnbd_dropout(con, evaluation["customer_id"], s_eval)
    seconds["baselines"] = time.perf_counter() - started
    eval_frame = pd.DataFrame({
        "customer_id": evaluation["customer_id"].to_numpy(), "snapshot_date": s_eval, "churned": y_eval,
        "model": p_eval, "recency_rule": recency, "bgnbd_p_alive": dropout,
        "engagement_score": pd.to_numeric(evaluation["engagement_score"], errors="coerce").to_numpy(),
    })
    common = {"split": split, "train_start_snapshot": min(train["snapshot_date"]),
              "train_end_snapshot": max(train["snapshot_date"]), "eval_snapshot": s_eval,
              "train_rows": len(train), "trained": True}

    # production model: the chosen candidate on every labelled snapshot (of the sampled
    # customers), scores the run date
    production = sampled
    started = time.perf_counter()
    prod_model, prod_method = _make_model(len(production), mask, seed, chosen)
    X_prod = encoder.matrix(production)
    prod_model.fit(X_prod, production["churned"].to_numpy())
    seconds["train"] = seconds["train_eval_model"] + time.perf_counter() - started
    version = f"{as_of.isoformat()}-{run_id}"
    chosen_note = (f"candidate '{chosen}' chosen by out-of-time ROC AUC ("
                   + ", ".join(f"{c} {a:.3f}" for c, a in candidate_auc.items()) + ")")
    model_row = {"model": MODEL_NAME, **common, **evaluate(y_eval, p_eval, probability=True), "calibration": method,
                 "message": f"calibrated HistGradientBoostingClassifier, {chosen_note}" + _sample_note(sample),
                 "model_version": version, "production_train_rows": len(production)}
    rule_auc = evaluate(y_eval, recency, probability=False)["roc_auc"]
    path = None
    if models_dir is not None:
        models_dir.mkdir(parents=True, exist_ok=True)
        path = models_dir / f"churn-{version}.joblib"
        model_row["model_path"] = str(path)
        joblib.dump({
            "format_version": MODEL_FORMAT_VERSION, "signature": signature, "trained_as_of": as_of,
            "model": prod_model, "features": used, "categories": encoder.categories, "candidate": chosen,
            "version": version, "horizon_days": horizon_days,
            "train_start_snapshot": min(production["snapshot_date"]), "train_end_snapshot": max(production["snapshot_date"]),
            "train_rows": len(production), "calibration": prod_method,
            "evaluation": {k: model_row.get(k) for k in ("split", "train_start_snapshot", "train_end_snapshot",
                                                         "eval_snapshot", "train_rows", *EVAL_KEYS, "calibration")},
            "recency_rule_roc_auc": rule_auc,
        }, path)

    scores = _score(feats, as_of, prod_model, encoder, version, run_id, seconds)
    timing = {"seconds_features": seconds["features"], "seconds_train": seconds["train"], "seconds_score": seconds["score"]}
    rows = [{**model_row, "scored_customers": len(scores), **timing},
            *_baseline_rows(common, y_eval, recency, dropout)]
    return result(rows, scores, feats, eval_frame, path,
                  fallback_reason=_lost_to_recency(rows[0]["roc_auc"], rows[1]["roc_auc"], s_eval))


EVAL_KEYS = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "eval_rows", "eval_churn_rate")


def _lost_to_recency(model_auc, rule_auc, s_eval, whose: str = "model") -> str:
    """The fallback reason when the model ranks worse than days-since-last-order on the evaluation
    snapshot (or could not be judged there), else "": such a model is not worth its scores."""
    if model_auc is None or (rule_auc is not None and model_auc < rule_auc):
        return (f"the {whose}'s ROC AUC {model_auc} is below the recency rule's {rule_auc} "
                f"on the evaluation snapshot {s_eval}")
    return ""


def _score(feats, as_of, model, encoder, version, run_id, seconds) -> pd.DataFrame:
    started = time.perf_counter()
    current = feats[feats["snapshot_date"] == as_of]
    if len(current):
        p_now, top_names, top_effects = drivers(model, encoder.matrix(current), encoder.features)
    else:
        p_now, top_names, top_effects = np.empty(0), np.empty((0, 3), object), np.empty((0, 3))
    seconds["score"] = time.perf_counter() - started
    return pd.DataFrame({
        "customer_id": current["customer_id"].to_numpy(), "snapshot_date": as_of,
        "churn_probability": p_now, "risk_band": risk_band(p_now),
        **{f"driver_{k + 1}": top_names[:, k] for k in range(3)},
        **{f"driver_{k + 1}_effect": top_effects[:, k] for k in range(3)},
        "recency_days": pd.to_numeric(current["recency_days"], errors="coerce").to_numpy(),
        "engagement_score": current["engagement_score"].to_numpy(dtype=float),
        "model_status": STATUS_MODEL, "model_version": version, "run_id": run_id,
    })


def _baseline_rows(common, y_eval, recency, dropout) -> list[dict]:
    rows = [{"model": "recency_rule", **common, **evaluate(y_eval, recency, probability=False),
             "message": "days since the last completed order (no order: tenure)"}]
    if np.all(np.isfinite(dropout)):
        rows.append({"model": "bgnbd_p_alive", **common, **evaluate(y_eval, dropout, probability=True),
                     "message": "1 - P(alive) of BG/NBD fitted on orders up to the evaluation snapshot"})
    else:
        rows.append({"model": "bgnbd_p_alive", **common, "trained": False,
                     "message": "BG/NBD not fitted at the evaluation snapshot (too few repeat buyers)"})
    return rows


def _score_with_saved(con, as_of, reuse, feats, labelled, result, seconds, run_id) -> ChurnResult:
    """Score the run date with a saved model (no training). Its evaluation row: when the latest
    labelled snapshot is after the saved model's training window, the saved model is judged on
    it (``split = saved_model_out_of_time``: what BI needs to see drift between retrainings);
    otherwise the saved model's own evaluation is repeated (``split`` as saved)."""
    path, saved = reuse
    encoder = _Encoder.from_saved(saved["features"], saved["categories"])
    age = (as_of - saved["trained_as_of"]).days
    note = f"saved model {saved['version']} reused (trained {age} day(s) ago, candidate '{saved['candidate']}')"
    common = {"trained": True, "train_start_snapshot": saved["train_start_snapshot"],
              "train_end_snapshot": saved["train_end_snapshot"], "train_rows": saved["train_rows"]}
    s_eval = max(labelled["snapshot_date"]) if len(labelled) else None
    eval_frame = None
    rows = []
    seconds["train"] = 0.0
    if s_eval is not None and s_eval > saved["train_end_snapshot"] and labelled["churned"].nunique() == 2:
        evaluation = labelled[labelled["snapshot_date"] == s_eval]
        y_eval = evaluation["churned"].to_numpy()
        p_eval = churn_probability(saved["model"], encoder.matrix(evaluation))
        recency = _recency_score(evaluation)
        started = time.perf_counter()
        dropout = _bgnbd_dropout(con, evaluation["customer_id"], s_eval)
        seconds["baselines"] = time.perf_counter() - started
        common.update(split="saved_model_out_of_time", eval_snapshot=s_eval)
        model_row = {"model": MODEL_NAME, **common, **evaluate(y_eval, p_eval, probability=True)}
        eval_frame = pd.DataFrame({
            "customer_id": evaluation["customer_id"].to_numpy(), "snapshot_date": s_eval, "churned": y_eval,
            "model": p_eval, "recency_rule": recency, "bgnbd_p_alive": dropout,
            "engagement_score": pd.to_numeric(evaluation["engagement_score"], errors="coerce").to_numpy(),
        })
        rows = _baseline_rows(common, y_eval, recency, dropout)
        lost = _lost_to_recency(model_row["roc_auc"], rows[0]["roc_auc"], s_eval, "saved model")
    else:
        # the saved run's own evaluation (its baselines are in that run's rows of churn_model_runs)
        model_row = {"model": MODEL_NAME, **common, **saved["evaluation"],
                     "message": None}
        note += "; no labelled snapshot after its training window: its training run's evaluation repeated"
        # a model that lost to the rule when trained keeps losing until retrained (files saved
        # before the rule's AUC was kept: judged on their own AUC only)
        lost = _lost_to_recency(saved["evaluation"].get("roc_auc"), saved.get("recency_rule_roc_auc"),
                                saved["evaluation"].get("eval_snapshot"), "saved model")
    scores = _score(feats, as_of, saved["model"], encoder, saved["version"], run_id, seconds)
    model_row.update(calibration=saved["calibration"], message=note, model_version=saved["version"],
                     model_path=str(path), production_train_rows=saved["train_rows"], scored_customers=len(scores),
                     seconds_features=seconds["features"], seconds_train=0.0, seconds_score=seconds["score"])
    out = result([model_row, *rows], scores, feats, eval_frame, path, fallback_reason=lost)
    out.reused_model = True
    return out
