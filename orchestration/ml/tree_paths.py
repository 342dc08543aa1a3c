"""Per-row feature contributions of a fitted scikit-learn ``HistGradientBoostingClassifier`` (binary),
read from its trees in one pass: Saabas' path attribution ("tree interpreter").

Every node gets an expected value: a leaf its value, an internal node the mean of its children's
expected values weighted by their training-row counts (``count``). HGB's own internal ``value``s
are not usable: they are the node's Newton step before shrinkage, while leaves are shrunk, so
they are not the mean of the leaves below. Walking a row from the root to its leaf, each split
on feature j adds ``E[child] - E[node]`` to j's contribution; the sum telescopes, so per row::

    base + contributions.sum(axis=1) == raw decision value (log-odds)

with ``base`` = the model's baseline + the root expectations of all trees. These are not Shapley
values (a feature split near the root can take credit that the splits below share), but they are
exact in sum, per row, and cost one traversal. The routing is sklearn's own: each tree's
``TreePredictor`` is run on a copy of its nodes whose ``value`` is the node's index, so its
compiled prediction returns the leaf each row reaches (missing values, categorical bitsets and
unknown categories exactly as in ``predict``; about 4x faster than routing level by level in
numpy). The trees see X as HGB's own preprocessing leaves it (with categorical features:
ordinal-encoded and moved to the front); the contributions are returned in the columns of the
caller's X.

The contributions are the product of a sparse row x leaf indicator with the (sparse) table of
each leaf's path contributions. The same leaves give the raw scores, and from them the
calibrated probability (``probability``), so scoring walks the trees once. Private sklearn parts
used: ``TreePredictor``, ``_predictors``, ``_baseline_prediction``, ``_bin_mapper``,
``_preprocessor``, ``_preprocess_X``, a calibrated fold's ``method`` and ``calibrators``
(checked against sklearn 1.9).
"""

from __future__ import annotations

import numpy as np

# rows x trees routed at once: bounds the memory of the leaf and indicator arrays (tens of MB)
_CELLS_PER_CHUNK = 2_000_000


def hgb_estimators(model) -> list:
    """The fitted HGB models behind ``model``: itself, or one per ``CalibratedClassifierCV`` fold."""
    if hasattr(model, "calibrated_classifiers_"):
        return [c.estimator for c in model.calibrated_classifiers_]
    return [model]


def contributions(model, X) -> tuple[float, np.ndarray]:
    """``(base, phi)``: phi[i, j] = contribution of feature j to row i's raw score (log-odds).

    For a ``CalibratedClassifierCV`` both are the mean over its fold models (each fold has its own
    trees and calibrator; the mean raw score is what the contributions add up to, and calibration,
    being monotone, keeps the direction: a positive contribution raises the churn probability).
    """
    base, phi, _ = contributions_and_raw(model, X)
    return base, phi


def contributions_and_raw(model, X) -> tuple[float, np.ndarray, np.ndarray]:
    """``contributions`` and, from the same leaves, each fold model's raw score (rows x folds):
    its baseline plus its trees' leaf values added in HGB's order, so bit for bit HGB's
    ``decision_function`` (``probability`` turns them into ``predict_proba``'s numbers without a
    second pass over the trees)."""
    ests = hgb_estimators(model)
    X = np.asarray(X)
    phi = np.zeros(X.shape)
    raw = np.empty((X.shape[0], len(ests)))
    base = 0.0
    for k, est in enumerate(ests):
        base += _add_contributions(est, X, phi, len(ests), raw[:, k])
    return base, phi, raw


def probability(model, raw: np.ndarray) -> np.ndarray | None:
    """P(class 1) from the fold models' raw scores (``contributions_and_raw``), as
    ``model.predict_proba(X)[:, 1]`` computes it: a bare binary HGB's logistic link; a
    ``CalibratedClassifierCV``'s per-fold sigmoid or isotonic calibrator, clipped at 1 as sklearn
    clips, averaged over the folds in their order. None for any other model (the caller then
    asks ``predict_proba``). Checked bit for bit against sklearn 1.9 by tests/test_churn_drivers.py."""
    from scipy.special import expit

    if not hasattr(model, "calibrated_classifiers_"):
        if len(getattr(model, "classes_", ())) != 2 or raw.shape[1] != 1:
            return None
        return expit(raw[:, 0])
    folds = model.calibrated_classifiers_
    if len(model.classes_) != 2 or raw.shape[1] != len(folds):
        return None
    if any(c.method not in ("sigmoid", "isotonic") or len(c.calibrators) != 1 for c in folds):
        return None
    mean = np.zeros(raw.shape[0])
    for k, fold in enumerate(folds):
        p = fold.calibrators[0].predict(raw[:, k])
        p[(1.0 < p) & (p <= 1.0 + 1e-5)] = 1.0
        mean += p
    return mean / len(folds)


class _Trees:
    """All trees of one HGB stacked into flat node arrays with global child indices."""

    def __init__(self, est):
        if est.n_trees_per_iteration_ != 1:
            raise ValueError("tree contributions support binary classifiers and regressors only")
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        trees = [p for iteration in est._predictors for p in iteration]
        sizes = np.array([len(t.nodes) for t in trees])
        node_off = np.repeat(np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        nodes = np.concatenate([t.nodes for t in trees])
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.is_leaf = nodes["is_leaf"].astype(bool)
        self.feature = nodes["feature_idx"].astype(np.int64)
        own = np.arange(len(nodes))
        self.left = np.where(self.is_leaf, own, nodes["left"].astype(np.int64) + node_off)
        self.right = np.where(self.is_leaf, own, nodes["right"].astype(np.int64) + node_off)
        # the same trees predicting their leaves' global index (exact in float64)
        self.leaf_predictors = []
        for tree, root in zip(trees, self.roots):
            indexed = tree.nodes.copy()
            indexed["value"] = root + np.arange(len(indexed))
            self.leaf_predictors.append(TreePredictor(indexed, tree.binned_left_cat_bitsets, tree.raw_left_cat_bitsets))
        self.known_categories = est._bin_mapper.make_known_categories_bitsets()
        self.value = nodes["value"].astype(np.float64)  # a leaf's value: what it adds to the raw score
        self.baseline = float(np.ravel(est._baseline_prediction)[0])
        self.expected = self._expected(nodes)
        self.base = self.baseline + float(self.expected[self.roots].sum())
        self.path = self._path_contributions(nodes, est.n_features_in_)

    def _expected(self, nodes) -> np.ndarray:
        # children are stored after their parent (preorder), so deepest levels first works
        count = nodes["count"].astype(float)
        depth = nodes["depth"]
        e = nodes["value"].astype(float)
        for d in range(int(depth.max()) - 1, -1, -1):
            i = np.flatnonzero(~self.is_leaf & (depth == d))
            l, r = self.left[i], self.right[i]
            e[i] = (count[l] * e[l] + count[r] * e[r]) / (count[l] + count[r])
        return e

    def _path_contributions(self, nodes, n_features: int) -> np.ndarray:
        """nodes x features: what the way from its tree's root to each node adds, per feature."""
        depth = nodes["depth"]
        path = np.zeros((len(nodes), n_features))
        for d in range(int(depth.max())):
            i = np.flatnonzero(~self.is_leaf & (depth == d))
            for child in (self.left[i], self.right[i]):
                path[child] = path[i]
                path[child, self.feature[i]] += self.expected[child] - self.expected[i]
        return path

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """rows x trees: the global index of the leaf each row reaches in each tree."""
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        known, f_idx_map = self.known_categories
        n_threads = _openmp_effective_n_threads()  # as HGB's predict: honours threadpool limits
        out = np.empty((X.shape[0], len(self.leaf_predictors)), dtype=np.int64)
        for t, predictor in enumerate(self.leaf_predictors):
            out[:, t] = predictor.predict(X, known, f_idx_map, n_threads)
        return out


def _add_contributions(est, X, out: np.ndarray, folds: int, raw: np.ndarray) -> float:
    """Adds the contributions of ``est`` divided by ``folds`` to ``out`` (rows x X's columns) and
    writes its raw scores to ``raw`` (one per row); returns its base divided by ``folds``. Chunk
    by chunk from HGB's preprocessing on: a chunk of rows stays in the CPU cache through the
    preprocessing and all trees (one step over all rows at a time was 1.5x slower at 478k rows,
    benchmarks/results.md)."""
    from scipy import sparse

    trees = _Trees(est)
    n_trees, n_nodes = len(trees.roots), len(trees.is_leaf)
    # with categorical features HGB reorders the columns (categorical ones first): the path
    # table's columns put back in X's order once, so the products land in X's columns. Sparse:
    # a leaf's path splits on a few features (2.5% of the entries at 1M customers)
    path = np.zeros_like(trees.path)
    path[:, _source_columns(est, path.shape[1])] = trees.path
    path = sparse.csr_matrix(path)
    step = max(1, _CELLS_PER_CHUNK // n_trees)
    for start in range(0, X.shape[0], step):
        chunk = np.ascontiguousarray(est._preprocess_X(X[start:start + step], reset=False), dtype=np.float64)
        leaves = trees.leaves(chunk)
        m = leaves.shape[0]
        # one 1 per (row, tree) at the reached leaf: summing the leaves' path tables over trees
        hits = sparse.csr_matrix((np.ones(leaves.size), leaves.ravel(), np.arange(0, leaves.size + 1, n_trees)),
                                 shape=(m, n_nodes))
        out[start:start + m] += (hits @ path).toarray() / folds
        # HGB's raw score: the baseline, then each tree's leaf value in tree order
        scores = np.full(m, trees.baseline)
        for t in range(n_trees):
            scores += trees.value[leaves[:, t]]
        raw[start:start + m] = scores
    return trees.base / folds


def _source_columns(est, n_columns: int) -> np.ndarray:
    """For each column HGB's trees see, the column of the caller's X it comes from."""
    pre = est._preprocessor
    if pre is None:
        return np.arange(n_columns)
    source = np.empty(n_columns, dtype=np.int64)
    for name, _, columns in pre.transformers_:
        if name in pre.output_indices_:
            columns = np.asarray(columns)
            source[pre.output_indices_[name]] = np.flatnonzero(columns) if columns.dtype == bool else columns
    return source
