"""Time churn drivers: the former occlusion method (one predict_proba per feature) against the
tree-path contributions of ``orchestration.ml.churn.drivers``, on a synthetic matrix shaped like
the churn features (numeric columns with missing values, one categorical plan code), with the
model built as ``churn._make_model`` builds it, single-threaded as in ``train_and_score``.

    PYTHONPATH=. python benchmarks/drivers_timing.py [--rows 50000] [--features 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def occlusion_drivers(model, X, reference, names, top=3):
    """The implementation replaced in issue #9, kept here only to time it."""
    p = model.predict_proba(X)[:, 1]
    effects = np.empty_like(X)
    for j in range(X.shape[1]):
        Xj = X.copy()
        Xj[:, j] = reference[j]
        effects[:, j] = p - model.predict_proba(Xj)[:, 1]
    order = np.argsort(-effects, axis=1, kind="stable")[:, :top]
    top_effects = np.take_along_axis(effects, order, axis=1)
    return p, np.where(top_effects > 1e-9, np.asarray(names, dtype=object)[order], None)


def synthetic(rows: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, -1] = rng.integers(0, 5, rows)  # the plan code
    logit = -1 + np.nan_to_num(X[:, 0]) - 0.5 * np.nan_to_num(X[:, 1]) + 0.8 * (X[:, -1] == 2) + np.isnan(X[:, 2])
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    mask = np.zeros(features, dtype=bool)
    mask[-1] = True
    return X, y, mask


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=40)
    args = parser.parse_args()

    import sklearn.calibration  # noqa: F401  (load OpenMP before limiting it)
    from threadpoolctl import threadpool_limits

    from orchestration.ml.churn import _make_model, drivers

    X, y, mask = synthetic(args.rows, args.features)
    names = [f"f{j}" for j in range(args.features)]
    reference = np.array([np.nanmedian(c) if not m else 0.0 for c, m in zip(X.T, mask)])
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        model, _ = _make_model(len(X), mask)
        model.fit(X, y)
        print(f"train: {time.perf_counter() - started:.1f} s ({args.rows:,} rows x {args.features} features)")
        started = time.perf_counter()
        _, old_names = occlusion_drivers(model, X, reference, names)
        old = time.perf_counter() - started
        started = time.perf_counter()
        _, new_names, _ = drivers(model, X, names)
        new = time.perf_counter() - started
    agree = np.mean(old_names[:, 0] == new_names[:, 0])
    print(f"drivers, occlusion: {old:.2f} s; tree paths: {new:.2f} s ({old / new:.1f}x); "
          f"same driver_1 on {agree:.0%} of rows")


if __name__ == "__main__":
    main()
