"""River's Hoeffding adaptive tree with majority-class leaves, minus its copies.

River's ``HoeffdingAdaptiveTreeClassifier`` answers ``predict_proba_one`` by
walking a generator chain to the leaves an example reaches (the leaf of the main
tree, and the leaf of every alternate tree hanging on the path), and each leaf
answers with a deep copy of its class counts, normalised twice. Its leaves also
copy their counts on every example they learn, and work out a naive Bayes
prediction that only leaves predicting by "naive Bayes adaptive" ever read.

:func:`hat_proba_one` computes River's probabilities in the same order from the
same counts, read in place; anything it does not cover (a missing feature, a
leaf without counts, an alternate tree that has grown branches, another kind of
leaf prediction) goes to River's own method. :class:`AdaptiveTree` is River's
tree whose majority-class leaves skip the copies and the unread naive Bayes
bookkeeping: the same splits, the same alternate trees, the same probabilities.
"""

from __future__ import annotations

import math
from typing import Any

from river.tree import HoeffdingAdaptiveTreeClassifier
from river.tree.nodes.branch import DTBranch
from river.tree.nodes.hatc_nodes import AdaBranchClassifier, AdaLeafClassifier
from river.tree.nodes.htc_nodes import LeafNaiveBayesAdaptive


def hat_proba_one(
    tree: HoeffdingAdaptiveTreeClassifier, x: dict[str, float]
) -> dict[Any, float]:
    """What River's ``predict_proba_one`` of ``tree`` returns, computed more
    cheaply when the tree's leaves predict by majority class."""
    root = tree._root
    if root is None or tree.leaf_prediction != tree._MAJORITY_CLASS:
        return HoeffdingAdaptiveTreeClassifier.predict_proba_one(tree, x)
    leaves = _reached(root, x) if isinstance(root, DTBranch) else [root]
    if leaves is None:
        return HoeffdingAdaptiveTreeClassifier.predict_proba_one(tree, x)

    proba = {c: 0.0 for c in tree.classes}
    for leaf in leaves:
        if not isinstance(leaf, AdaLeafClassifier) or not leaf.stats:
            return HoeffdingAdaptiveTreeClassifier.predict_proba_one(tree, x)
        for k, v in _majority_votes(leaf).items():
            if k in proba:
                proba[k] += v
            else:
                proba[k] = v

    return _scaled(proba, sum(proba.values()))


class _NoNaiveBayesBookkeeping(LeafNaiveBayesAdaptive):
    """A leaf learning as LeafNaiveBayesAdaptive does, without counting how often
    its naive Bayes and majority-class predictions were right: only a tree with
    ``leaf_prediction="nba"`` reads those counts, and the naive Bayes prediction
    costs a Gaussian per feature and class on every example."""

    def learn_one(self, x, y, *, w=1.0, tree=None):  # type: ignore[no-untyped-def]
        super(LeafNaiveBayesAdaptive, self).learn_one(x, y, w=w, tree=tree)


class MajorityLeaf(AdaLeafClassifier, _NoNaiveBayesBookkeeping):
    """An adaptive tree's leaf for majority-class prediction, reading its counts
    in place."""

    def prediction(self, x, *, tree=None):  # type: ignore[no-untyped-def]
        if not self.stats:
            return None
        return _majority_votes(self)


class AdaptiveTree(HoeffdingAdaptiveTreeClassifier):
    """River's adaptive tree; with ``leaf_prediction="mc"`` its leaves are
    :class:`MajorityLeaf` and its probabilities come from :func:`hat_proba_one`."""

    def predict_proba_one(self, x):  # type: ignore[no-untyped-def]
        return hat_proba_one(self, x)

    def _new_leaf(  # type: ignore[no-untyped-def]
        self, initial_stats=None, parent=None
    ):
        if self.leaf_prediction != self._MAJORITY_CLASS:
            return super()._new_leaf(initial_stats, parent)
        # As River builds a leaf, with the detector cloned and the random
        # generator shared in the same way.
        return MajorityLeaf(
            stats={} if initial_stats is None else initial_stats,
            depth=0 if parent is None else parent.depth + 1,
            splitter=self.splitter,
            drift_detector=self.drift_detector.clone(),
            rng=self._rng,
        )


def upgraded(tree: HoeffdingAdaptiveTreeClassifier) -> HoeffdingAdaptiveTreeClassifier:
    """``tree``, River's own (as checkpoints written before :class:`AdaptiveTree`
    hold), made an AdaptiveTree in place with its majority-class leaves, those
    of alternate trees included, made :class:`MajorityLeaf`; both classes only
    change how the same state is read. Any other tree is returned as it is."""
    if type(tree) is not HoeffdingAdaptiveTreeClassifier:
        return tree
    if tree.leaf_prediction != tree._MAJORITY_CLASS:
        return tree
    tree.__class__ = AdaptiveTree
    pending = [] if tree._root is None else [tree._root]
    while pending:
        node = pending.pop()
        if type(node) is AdaLeafClassifier:
            node.__class__ = MajorityLeaf
        if isinstance(node, DTBranch):
            pending.extend(node.children)
        alternate = getattr(node, "_alternate_tree", None)
        if alternate is not None:
            pending.append(alternate)
    return tree


def _majority_votes(leaf: AdaLeafClassifier) -> dict[Any, float]:
    """AdaLeafClassifier.prediction for a majority-class leaf with counts: the
    class frequencies, then those divided by the leaf's squared error rate."""
    stats = leaf.stats
    dist = _scaled(stats, sum(stats.values()))
    error = leaf._mean_error.get()
    return _scaled(dist, sum(dist.values()) * error * error)


def _reached(root: DTBranch, x: dict[str, float]) -> list[Any] | None:
    """The leaves River's traverse returns for ``x``, in its order; None where
    River would take another road (a missing feature) or return a nested list
    (an alternate tree with branches)."""
    found = []
    node = root
    while isinstance(node, DTBranch):
        if isinstance(node, AdaBranchClassifier) and node._alternate_tree:
            alternate = node._alternate_tree
            if isinstance(alternate, AdaBranchClassifier):
                return None
            found.append(alternate)
        try:
            node = node.next(x)
        except KeyError:
            return None
    found.append(node)
    return found


def _scaled(counts: dict[Any, float], total: float) -> dict[Any, float]:
    """A new dict of ``counts`` times ``1 / total`` (a copy if total is 0 or NaN),
    as river.utils.norm.normalize_values_in_dict computes it."""
    if total == 0 or math.isnan(total):
        return dict(counts)
    multiplier = 1 / total
    return {k: v * multiplier for k, v in counts.items()}
