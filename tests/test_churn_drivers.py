"""Churn drivers: tree-path contributions add up to the model's raw score, row by row, through
numeric, missing-value and categorical splits; on data where one feature decides, it is the driver."""

from __future__ import annotations

import numpy as np
import pytest

from orchestration.ml import tree_paths
from orchestration.ml import churn
from orchestration.ml.churn import _make_model, drivers

CAT = 4  # the categorical column of ``_data``


def _data(n=3000, seed=0):
    """Numeric x0, x1 (20% missing, missingness matters), noise x2, x3, a category code 0..5 (10%
    missing) of which 1 and 3 raise the risk."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, CAT] = rng.integers(0, 6, n)
    X[rng.random(n) < 0.2, 1] = np.nan
    X[rng.random(n) < 0.1, CAT] = np.nan
    logit = X[:, 0] + 1.5 * np.isnan(X[:, 1]) + 1.5 * np.isin(X[:, CAT], [1, 3]) - 1
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _mask():
    return np.arange(5) == CAT


def _hgb(X, y):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, categorical_features=_mask(),
                                          random_state=0).fit(X, y)


def _scored_rows(X):
    """The data plus the odd cases of the routing: unseen, negative, fractional, huge category codes."""
    odd = X[:6].copy()
    odd[:, CAT] = [7, -1, 2.5, 255, 300, np.nan]
    odd[:3, 1] = np.nan
    return np.vstack([X, odd])


def test_contributions_add_up_to_the_raw_score_of_a_bare_hgb():
    X, y = _data()
    model = _hgb(X, y)
    nodes = np.concatenate([p.nodes for it in model._predictors for p in it])
    internal = nodes[nodes["is_leaf"] == 0]
    # the fixture exercises the routing cases: categorical splits, and missing values of x1 sent
    # either way (the trees see the columns reordered, categorical first)
    source = tree_paths._source_columns(model, 5)
    assert source[0] == CAT
    assert internal["is_categorical"].any()
    x1_splits = internal[source[internal["feature_idx"]] == 1]
    assert set(x1_splits["missing_go_to_left"]) == {0, 1}

    rows = _scored_rows(X)
    base, phi = tree_paths.contributions(model, rows)
    assert phi.shape == rows.shape
    np.testing.assert_allclose(base + phi.sum(axis=1), model._raw_predict(rows).ravel(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(base + phi.sum(axis=1), model.decision_function(rows), rtol=0, atol=1e-9)
    # a feature that never splits contributes nothing
    unused = [j for j in range(5) if j not in set(source[internal["feature_idx"]])]
    assert np.all(phi[:, unused] == 0)


def test_contributions_of_the_calibrated_model_are_the_mean_over_its_folds():
    X, y = _data()
    model, _ = _make_model(len(X), _mask())
    model.fit(X, y)
    rows = _scored_rows(X)
    folds = tree_paths.hgb_estimators(model)
    assert len(folds) == 3
    base, phi = tree_paths.contributions(model, rows)
    raw = np.mean([est._raw_predict(rows).ravel() for est in folds], axis=0)
    np.testing.assert_allclose(base + phi.sum(axis=1), raw, rtol=0, atol=1e-9)


def test_chunks_give_the_same_probabilities_and_contributions(monkeypatch):
    """Scoring goes chunk by chunk (for the CPU cache); the rows and their order come out as in
    one pass over all rows, bit for bit, including a short last chunk."""
    X, y = _data()
    model, _ = _make_model(len(X), _mask())
    model.fit(X, y)
    rows = _scored_rows(X)
    whole_base, whole_phi = tree_paths.contributions(model, rows)
    whole_p = model.predict_proba(rows)[:, 1]
    n_trees = len(tree_paths._Trees(tree_paths.hgb_estimators(model)[0]).roots)
    monkeypatch.setattr(tree_paths, "_CELLS_PER_CHUNK", 97 * n_trees)
    monkeypatch.setattr(churn, "_PREDICT_CHUNK_ROWS", 97)
    assert len(rows) % 97 != 0
    base, phi = tree_paths.contributions(model, rows)
    assert base == whole_base
    assert np.array_equal(phi, whole_phi)
    assert np.array_equal(churn.churn_probability(model, rows), whole_p)
    assert churn.churn_probability(model, rows[:0]).shape == (0,)


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", None])
def test_drivers_probability_is_predict_proba_bit_for_bit(calibration, monkeypatch):
    """drivers() takes the probability from the raw scores of the leaves the contributions
    reached (one pass over the trees): it must be exactly what predict_proba gives, for both
    calibrators and a bare HGB, chunk by chunk too."""
    from sklearn.calibration import CalibratedClassifierCV

    X, y = _data()
    if calibration is None:
        model = _hgb(X, y)
    else:
        model = CalibratedClassifierCV(_hgb(X, y).set_params(random_state=1), method=calibration, cv=3).fit(X, y)
    rows = _scored_rows(X)
    expected = model.predict_proba(rows)[:, 1]
    _, _, raw = tree_paths.contributions_and_raw(model, rows)
    assert np.array_equal(tree_paths.probability(model, raw), expected)
    monkeypatch.setattr(tree_paths, "_CELLS_PER_CHUNK", 97 * 60)
    p, _, _ = drivers(model, rows, [f"x{j}" for j in range(5)])
    assert np.array_equal(p, expected)
    if calibration is not None:  # a model it cannot read (another calibrator) falls back to predict_proba
        monkeypatch.setattr(model.calibrated_classifiers_[0], "method", "temperature")
        assert tree_paths.probability(model, raw) is None


@pytest.mark.parametrize("decisive", [0, 1, CAT])
def test_the_one_feature_that_matters_is_driver_1_of_risky_rows(decisive):
    """x0 > 0.5, a missing x1, or category 1/3 makes churn likely; everything else is noise."""
    rng = np.random.default_rng(1)
    n = 4000
    X = rng.normal(size=(n, 5))
    X[:, CAT] = rng.integers(0, 6, n)
    X[rng.random(n) < 0.3, 1] = np.nan
    risky = {0: X[:, 0] > 0.5, 1: np.isnan(X[:, 1]), CAT: np.isin(X[:, CAT], [1, 3])}[decisive]
    y = (rng.random(n) < np.where(risky, 0.9, 0.1)).astype(int)
    model, _ = _make_model(n, _mask())
    model.fit(X, y)
    names = [f"x{j}" for j in range(5)]
    p, top_names, top_effects = drivers(model, X, names)
    assert top_names.shape == top_effects.shape == (n, 3)
    high = p >= 0.5
    assert (high & risky).sum() > n / 10
    assert (top_names[high & risky, 0] == f"x{decisive}").all()
    # the few rows the noise features alone push over 0.5 (overfitting) are the exceptions
    assert (top_names[high, 0] == f"x{decisive}").mean() > 0.99
    # effects: positive and ordered where named, NaN with None otherwise
    named = top_names != None  # noqa: E711  (element-wise)
    assert (top_effects[named] > 0).all() and np.isnan(top_effects[~named]).all()
    filled = np.nan_to_num(top_effects)
    assert (filled[:, 0] >= filled[:, 1]).all() and (filled[:, 1] >= filled[:, 2]).all()
    # low-risk rows: the decisive feature lowers their risk, so it is not among their drivers
    assert not (top_names[~risky & (p < 0.2)] == f"x{decisive}").any()
