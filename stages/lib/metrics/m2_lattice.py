"""MaxMatch system-edit extraction: the edit lattice and its best path, reproduced exactly.

The official M2 scorer (nusnlp/m2scorer, levenshtein.py) builds the lattice of all
co-optimal token Levenshtein alignments (substitution cost 1 and 2, united), adds
"transitive" arcs (merged edits with at most `max_unchanged_words` unchanged tokens) by
a triple loop over all vertices, removes multi-token no-op arcs with a loop that deletes
from the list it iterates, weights arcs per annotator, and runs Bellman-Ford. Its counts
depend on list orders and float ties, so this module reproduces the same arc list (same
order, same duplicates) but computes it much faster:

* Closure: when vertex k is processed (vertices in sorted order) every arc *out of* k is
  still elementary, because a merged arc i->j is only created while processing some k
  with i < k < j. So the triple loop reduces to: for each arc into k (sorted by source),
  for each elementary arc out of k (sorted by target). Same candidates, same order, so
  the appended arcs (and re-appends when a shorter merge replaces an arc) are identical;
  the cost drops from O(|V|^3) to O(sum of in-degree x out-degree).
* Bellman-Ford: replayed on the same arc list with the same float additions, but stopped
  at the first pass without any improvement (a fixed point: the official's remaining
  passes change nothing). A few passes instead of |V| - 1.

Wide lattices (reordered or garbled outputs: up to millions of merged arcs per sentence)
go to numpy arrays instead, with the same results: m2_closure.py builds the closure and
m2_arrays.py weighs it and finds the path (CoNLL-14 with every sentence's words reversed:
87 s here, 7 s there). Thin lattices, those of normal outputs, stay here, where the
per-arc Python work is cheaper than numpy's per-call overhead.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from stages.lib.metrics.m2_weights import (
    EPSILON,
    INF,
    MAX_UNCHANGED,
    Edit,
    Gold,
    bellman_ford,
    weigh_group,
)

if TYPE_CHECKING:
    from stages.lib.metrics.m2_arrays import ArrayLattice

# When m2_arrays is faster: lattices with at least 200 elementary arcs and 2.5 of them per
# anti-diagonal on average (wide lattices, whose closure has many merged arcs). Measured
# on CoNLL-14 with reversed, shuffled and noisy outputs: from there on the dict version
# costs 1-10x more; normal corrections (thin lattices) stay on the dict version.
ARRAY_MIN_ARCS = 200
ARRAY_MIN_WIDTH = 2.5


def _banded_rows(src: list[str], hyp: list[str], sub_cost: int, t: int) -> list[list[float]]:
    """Levenshtein rows computed only on diagonals k = j - i with |k| + |m-n-k| <= t (the
    cheapest possible cost of any path through such a cell); other cells stay infinite."""
    n, m = len(src), len(hyp)
    w, delta = m + 1, m - n
    k_lo, k_hi = -((t - delta) // 2), (t + delta) // 2  # ceil((delta-t)/2), floor(...)
    rows = [[j if j <= k_hi else INF for j in range(w)]]
    for i in range(1, n + 1):
        prev, row = rows[-1], [INF] * w
        lo, hi = max(0, i + k_lo), min(m, i + k_hi)
        if lo == 0:
            row[0] = i
            lo = 1
        s = src[i - 1]
        for j in range(lo, hi + 1):
            sub = prev[j - 1] + (0 if s == hyp[j - 1] else sub_cost)
            dele = prev[j] + 1
            ins = row[j - 1] + 1
            # Plain comparisons, not min(): this is the hot loop (a builtin call per cell
            # costs ~30% here).
            if dele < sub:  # noqa: PLR1730
                sub = dele
            row[j] = ins if ins < sub else sub  # noqa: FURB136
        rows.append(row)
    return rows


def _lattice_edges(src: list[str], hyp: list[str], sub_cost: int) -> set[tuple[int, int]]:
    """Arcs (pred_cell, cell) of all co-optimal alignments, cells coded i*(m+1)+j.

    Only cells reachable backwards from the final cell are kept, as in the official
    breadth-first walk over the back-pointers. The matrix is computed in a diagonal band
    that is widened until it provably holds every optimal path (Ukkonen's cut-off): a
    cell outside the band costs more than the distance found inside it, so band values
    are exact on every optimal path and the back-pointers come out identical.
    """
    n, m = len(src), len(hyp)
    w = m + 1
    t = abs(m - n) + 4
    while True:
        rows = _banded_rows(src, hyp, sub_cost, t)
        if rows[n][m] <= t:
            break
        t = max(2 * t, int(rows[n][m]))
    edges: set[tuple[int, int]] = set()
    seen = {n * w + m}
    stack = [(n, m)]
    while stack:
        i, j = stack.pop()
        cell = i * w + j
        if i == 0 or j == 0:  # first row / column: a single back-pointer
            if i == 0 and j == 0:
                continue
            pi, pj = (i, j - 1) if i == 0 else (i - 1, j)
            preds = [(pi, pj)]
        else:
            d = rows[i][j]
            preds = []
            if rows[i - 1][j - 1] + (0 if src[i - 1] == hyp[j - 1] else sub_cost) == d:
                preds.append((i - 1, j - 1))
            if rows[i - 1][j] + 1 == d:
                preds.append((i - 1, j))
            if rows[i][j - 1] + 1 == d:
                preds.append((i, j - 1))
        for pi, pj in preds:
            pcell = pi * w + pj
            edges.add((pcell, cell))
            if pcell not in seen:
                seen.add(pcell)
                stack.append((pi, pj))
    return edges


def _elementary_edit(a: int, b: int, w: int, src: list[str], hyp: list[str]) -> Edit:
    ai, aj = divmod(a, w)
    bi, bj = divmod(b, w)
    if bi == ai + 1 and bj == aj + 1:
        if src[ai] == hyp[aj]:
            return ("noop", ai, bi, src[ai], hyp[aj], 1)
        return ("sub", ai, bi, src[ai], hyp[aj], 0)
    if bi == ai + 1:
        return ("del", ai, bi, src[ai], "", 0)
    return ("ins", ai, ai, "", hyp[aj], 0)  # row 0 also inserts at 0 (master branch)


def _merge(e1: Edit, e2: Edit) -> Edit:
    """Join two consecutive edits: sides joined by one space, empty sides left out."""
    k1, k2 = e1[0], e2[0]
    kind = k1 if k1 == k2 and k1 in ("ins", "del", "noop") else "sub"
    orig = e1[3] + " " + e2[3] if e1[3] and e2[3] else e1[3] or e2[3]
    corr = e1[4] + " " + e2[4] if e1[4] and e2[4] else e1[4] or e2[4]
    return (kind, e1[1], e2[2], orig, corr, e1[5] + e2[5])


class Lattice:
    """The united, closed lattice of one (source, hypothesis) pair, annotator independent.

    `arrays`: None chooses by size; True / False force the numpy / dict implementation.
    """

    def __init__(self, src: list[str], hyp: list[str], max_unchanged_words: int = 2,
                 arrays: bool | None = None) -> None:
        w = len(hyp) + 1
        self.size = size = (len(src) + 1) * w  # arc key = a * size + b
        self.final = size - 1
        e1 = _lattice_edges(src, hyp, 1)
        e2 = _lattice_edges(src, hyp, 2)
        self.arrays: ArrayLattice | None = None
        n_elem = len(e1 | e2)
        wide = n_elem >= ARRAY_MIN_ARCS and n_elem >= ARRAY_MIN_WIDTH * (len(src) + len(hyp))
        if arrays or (arrays is None and wide and max_unchanged_words <= MAX_UNCHANGED):
            from stages.lib.metrics.m2_arrays import ArrayLattice  # numpy only when needed

            self.arrays = ArrayLattice(src, hyp, e1, e2, max_unchanged_words)
            return
        # merge_graph keeps the arcs of both lattices, duplicates included, sorted.
        order = sorted([a * size + b for a, b in e1] + [a * size + b for a, b in e2])
        arcs: dict[int, tuple[int, Edit]] = {}
        elem_out: dict[int, list[int]] = defaultdict(list)
        into: dict[int, set[int]] = defaultdict(set)
        verts = {0}
        for a, b in e1 | e2:
            arcs[a * size + b] = (1, _elementary_edit(a, b, w, src, hyp))
            elem_out[a].append(b)
            into[b].add(a)
            verts.add(b)
        self.vertices = sorted(verts)
        for k in self.vertices:  # closure, see module docstring
            outs = elem_out.get(k)
            if not outs or k not in into:
                continue
            outs.sort()
            for vi in sorted(into[k]):
                dik, eik = arcs[vi * size + k]
                cand = dik + 1
                base = vi * size
                for vj in outs:
                    key = base + vj
                    cur = arcs.get(key)
                    if cur is None or cand < cur[0]:
                        merged = _merge(eik, arcs[k * size + vj][1])
                        if merged[5] <= max_unchanged_words:
                            order.append(key)
                            arcs[key] = (cand, merged)
                            into[vj].add(vi)
        # Remove multi-token no-op arcs exactly like the official loop, which deletes from
        # the list it iterates over (so the arc right after a removed one is skipped).
        pos = 0
        while pos < len(order):
            key = order[pos]
            pos += 1
            arc = arcs.get(key)
            if arc is not None and arc[1][0] == "noop" and arc[0] > 1:
                order.remove(key)
                del arcs[key]
        self.order = order
        self.arcs = arcs
        self.sources = [key // size for key in order]
        self.targets = [key % size for key in order]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for key in order:
            e = arcs[key][1]
            groups[(e[1], e[2])].append(key)
        for g in groups.values():
            g.sort()
        self.groups = groups
        # Weights when no arc matches a gold edit: +EPSILON per occurrence of a non-noop arc.
        base_w: dict[int, float] = {}
        for key in order:
            d, e = arcs[key]
            if e[0] == "noop":
                base_w[key] = d
            else:
                base_w[key] = base_w.get(key, d) + EPSILON
        self.base_weights = base_w

    def weights(self, gold: list[Gold]) -> Any:
        """Arc weights for one annotator (the official `set_weights`), for best_edits."""
        if self.arrays is not None:
            return self.arrays.weights(gold)
        by_span: dict[tuple[int, int], list[Gold]] = defaultdict(list)
        for g in gold:
            by_span[(g[0], g[1])].append(g)
        touched = [k for k in by_span if k in self.groups]
        if not touched:
            return self.base_weights
        wts = dict(self.base_weights)
        neg = -len(self.order)
        for span in touched:
            weigh_group(span, self.groups[span], by_span[span], self.arcs.__getitem__,
                        self.size, wts, neg)
        return wts

    def best_edits(self, wts: Any) -> list[tuple[int, int, str, str]]:
        """Non-noop edits on the Bellman-Ford path, left to right.

        The official passes are replayed literally (same arc order, same float sums, strict
        improvement), because near-equal path weights that differ only by rounding decide
        which predecessor is kept. A pass without any improvement is a fixed point, so the
        remaining passes are skipped: with the arc list mostly in source order this
        converges after a few passes instead of |V| - 1.
        """
        if self.arrays is not None:
            return self.arrays.best_edits(wts)
        arcs = list(zip(self.sources, self.targets, [wts[k] for k in self.order]))
        pred = bellman_ford(arcs, self.size, len(self.vertices) - 1)
        seq = []
        v = self.final
        while v in pred:
            a = pred[v]
            e = self.arcs[a * self.size + v][1]
            if e[0] != "noop":
                seq.append((e[1], e[2], e[3], e[4]))
            v = a
        seq.reverse()
        return seq


def count_correct(edits: list[tuple[int, int, str, str]], gold: list[Gold]) -> int:
    """The official `matchSeq`: scan forward from after the last match. It does not stop at
    the first match, so one system edit counts once per identical gold edit in range."""
    last, correct = 0, 0
    for s, e, o, c in edits:
        for i in range(last, len(gold)):
            g = gold[i]
            if s == g[0] and e == g[1] and o == g[2] and c in g[3]:
                correct += 1
                last = i + 1
    return correct
