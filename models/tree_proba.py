"""Class probabilities of a River Hoeffding adaptive tree, without its copies.

River's ``HoeffdingAdaptiveTreeClassifier.predict_proba_one`` walks a generator
chain to the leaves an example reaches (the leaf of the main tree, and the leaf
of every alternate tree hanging on the path), and each leaf answers with a deep
copy of its class counts, normalised twice. :func:`hat_proba_one` computes the
same sums in the same order from the same counts, reading them in place. It
handles the case our trees are in (majority-class leaves, every feature present)
and hands anything else to River: a missing feature, a leaf without counts, an
alternate tree that has grown branches, another kind of leaf prediction.
"""

from __future__ import annotations

import math
from typing import Any

from river.tree import HoeffdingAdaptiveTreeClassifier
from river.tree.nodes.branch import DTBranch
from river.tree.nodes.hatc_nodes import AdaBranchClassifier, AdaLeafClassifier


def hat_proba_one(
    tree: HoeffdingAdaptiveTreeClassifier, x: dict[str, float]
) -> dict[Any, float]:
    """What ``tree.predict_proba_one(x)`` returns, computed more cheaply."""
    root = tree._root
    if root is None or tree.leaf_prediction != tree._MAJORITY_CLASS:
        return tree.predict_proba_one(x)
    leaves = _reached(root, x) if isinstance(root, DTBranch) else [root]
    if leaves is None:
        return tree.predict_proba_one(x)

    proba = {c: 0.0 for c in tree.classes}
    for leaf in leaves:
        if type(leaf) is not AdaLeafClassifier or not leaf.stats:
            return tree.predict_proba_one(x)

        # The leaf's class frequencies, then those divided by the leaf's squared
        # error rate: the steps of AdaLeafClassifier.prediction, less the copies.
        dist = _scaled(leaf.stats, sum(leaf.stats.values()))
        error = leaf._mean_error.get()
        dist = _scaled(dist, sum(dist.values()) * error * error)
        for k, v in dist.items():
            if k in proba:
                proba[k] += v
            else:
                proba[k] = v

    return _scaled(proba, sum(proba.values()))


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
