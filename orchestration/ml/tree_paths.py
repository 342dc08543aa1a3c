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

The contributions are the product of a sparse row x leaf indicator with the table of each
leaf's path contributions. Private sklearn parts used: ``TreePredictor``, ``_predictors``,
``_baseline_prediction``, ``_bin_mapper``, ``_preprocessor``, ``_preprocess_X`` (checked against
sklearn 1.9).
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
    ests = hgb_estimators(model)
    X = np.asarray(X)
    phi = np.zeros(X.shape)
    base = 0.0
    for est in ests:
        base += _add_contributions(est, X, phi, len(ests))
    return base, phi


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
        self.expected = self._expected(nodes)
        self.base = float(np.ravel(est._baseline_prediction)[0] + self.expected[self.roots].sum())
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


def _add_contributions(est, X, out: np.ndarray, folds: int) -> float:
    """Adds the contributions of ``est`` divided by ``folds`` to ``out`` (rows x X's columns);
    returns its base divided by ``folds``. Chunk by chunk from HGB's preprocessing on: a chunk
    of rows stays in the CPU cache through the preprocessing and all trees (one step over all
    rows at a time was 1.5x slower at 478k rows, benchmarks/results.md)."""
    from scipy import sparse

    trees = _Trees(est)
    n_trees, n_nodes = len(trees.roots), len(trees.is_leaf)
    # with categorical features HGB reorders the columns (categorical ones first): the path
    # table's columns put back in X's order once, so the products land in X's columns
    path = np.empty_like(trees.path)
    path[:, _source_columns(est, path.shape[1])] = trees.path
    step = max(1, _CELLS_PER_CHUNK // n_trees)
    for start in range(0, X.shape[0], step):
        chunk = np.ascontiguousarray(est._preprocess_X(X[start:start + step], reset=False), dtype=np.float64)
        leaves = trees.leaves(chunk)
        m = leaves.shape[0]
        # one 1 per (row, tree) at the reached leaf: summing the leaves' path tables over trees
        hits = sparse.csr_matrix((np.ones(leaves.size), leaves.ravel(), np.arange(0, leaves.size + 1, n_trees)),
                                 shape=(m, n_nodes))
        out[start:start + m] += (hits @ path) / folds
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
