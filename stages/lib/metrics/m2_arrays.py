"""Large M2 lattices on numpy arrays: the same weights and best path as m2_lattice.

A reordered or garbled output (every word of a sentence reversed, say) gives a lattice
with millions of merged arcs: the dict-based closure and a literal Bellman-Ford replay
over all of them took minutes on CoNLL-14. m2_lattice.Lattice hands such lattices here;
the closure is built by m2_closure.

Bellman-Ford. The official passes end at the float shortest distances m(v), which are
computed here in topological order (one anti-diagonal at a time). The predecessor kept
for a vertex b is set by the first relaxation that reaches m(b). Exact path weights are
integers plus multiples of EPSILON, so a relaxation over an arc that is not "tight"
(m(a) + w above m(b) by more than rounding) gives a value at least ~EPSILON above m(b):
it never reaches m(b), and every relaxation that does still beats it. And a vertex's
history depends only on the arcs into it and its ancestors' histories. So replaying the
official passes, in the official order, over the tight arcs into the final vertex and,
recursively, into their sources gives the same path: a few thousand arcs at most.
"""
from __future__ import annotations

import numpy as np

from stages.lib.metrics import m2_closure
from stages.lib.metrics.m2_closure import NOOP, U_MASK, U_SHIFT
from stages.lib.metrics.m2_weights import EPSILON, INF, Edit, Gold, bellman_ford, weigh_group

KIND_NAMES = {NOOP: "noop", m2_closure.INS: "ins", m2_closure.DEL: "del",
              m2_closure.SUB: "sub"}
TOL = 1e-4  # far above float noise (checked per lattice), far below EPSILON


class ArrayLattice:
    """The closed lattice of one (source, hypothesis) pair, weighed and searched on arrays."""

    def __init__(self, src: list[str], hyp: list[str], e1: set[tuple[int, int]],
                 e2: set[tuple[int, int]], max_unchanged_words: int) -> None:
        self.src, self.hyp = src, hyp
        self.w = len(hyp) + 1
        self.size = (len(src) + 1) * self.w
        c = self.c = m2_closure.build(src, hyp, e1, e2, max_unchanged_words)
        self.nv = len(c.cells)
        self.vi, self.tgt, self.dist, self.kind, self.occ = c.vi, c.tgt, c.dist, c.kind, c.occ
        rows = c.cells // self.w
        self.span = rows[c.vi] * (len(src) + 1) + rows[c.tgt]
        base = self.dist.astype(np.float64)
        for r in range(int(c.occ.max(initial=0))):  # official: += EPSILON per occurrence
            base = np.where((self.kind != NOOP) & (c.occ > r), base + EPSILON, base)
        self.base_weights = np.where(c.alive, base, INF)
        self.max_weight = float(base.max())
        self.neg = -(c.n_elem_occ + len(c.ev_entry) - int((~c.alive).sum()))  # -len(list)

    def _arc(self, entry: int) -> tuple[int, Edit]:
        """(distance, edit) of one entry, as m2_lattice stores it."""
        a, b = int(self.c.cells[self.vi[entry]]), int(self.c.cells[self.tgt[entry]])
        (ai, aj), (bi, bj) = divmod(a, self.w), divmod(b, self.w)
        edit = (KIND_NAMES[int(self.kind[entry])], ai, bi, " ".join(self.src[ai:bi]),
                " ".join(self.hyp[aj:bj]), int(self.c.attr[entry] >> U_SHIFT & U_MASK))
        return int(self.dist[entry]), edit

    def _key(self, entry: int) -> int:
        return int(self.c.cells[self.vi[entry]]) * self.size + int(self.c.cells[self.tgt[entry]])

    def weights(self, gold: list[Gold]) -> np.ndarray:
        """Arc weights for one annotator (the official `set_weights`), one per entry."""
        n1 = len(self.src) + 1
        by_span: dict[int, list[Gold]] = {}
        for g in gold:
            by_span.setdefault(g[0] * n1 + g[1], []).append(g)
        hit = np.flatnonzero(np.isin(self.span, list(by_span)) & self.c.alive)
        if not len(hit):
            return self.base_weights
        wts = self.base_weights.copy()
        spans = self.span[hit]
        for code in np.unique(spans).tolist():
            entries = hit[spans == code]
            start, end = divmod(code, n1)
            if start != end:  # order-free: a match weighs neg, the rest keep their weight
                alts = {alt for g in by_span[code] for alt in g[3]}
                wts[entries] = np.where(self._corrects_to(entries, alts), self.neg,
                                        wts[entries])
                continue
            # insertions: the official scan over the arcs' occurrences (m2_lattice)
            arcs = {self._key(e): self._arc(e) for e in entries.tolist()}
            keys = sorted(self._key(e) for e in entries.tolist() for _ in range(self.occ[e]))
            group: dict[int, float] = {}
            weigh_group((start, end), keys, by_span[code], arcs.__getitem__, self.size,
                        group, self.neg)
            wts[entries] = [group[self._key(e)] for e in entries.tolist()]
        return wts

    def _corrects_to(self, entries: np.ndarray, alts: set[str]) -> np.ndarray:
        """Which arcs' corrections (their hypothesis words, space-joined) are in alts.
        Arcs of one span replace the same source words, so these decide a gold match."""
        aj = self.c.cells[self.vi[entries]] % self.w
        bj = self.c.cells[self.tgt[entries]] % self.w
        match = np.zeros(len(entries), bool)
        for alt in alts:
            words = alt.split(" ") if alt else []
            n = len(words)
            starts = [p for p in range(len(self.hyp) - n + 1) if self.hyp[p:p + n] == words]
            if starts:
                match |= (bj - aj == n) & np.isin(aj, starts)
        return match

    def _shortest(self, wts: np.ndarray) -> np.ndarray:
        """Float shortest distances from vertex 0, one anti-diagonal at a time."""
        m = np.full(self.nv, INF)
        m[0] = 0.0
        for lo, hi, starts, targets in self.c.levels:
            m[targets] = np.minimum.reduceat(m[self.vi[lo:hi]] + wts[lo:hi], starts)
        return m

    def best_edits(self, wts: np.ndarray) -> list[tuple[int, int, str, str]]:
        """Non-noop edits on the official Bellman-Ford path, left to right."""
        m = self._shortest(wts)
        scale = max(float(np.abs(m[np.isfinite(m)]).max()), self.max_weight, -self.neg)
        # a path has at most one arc per anti-diagonal: if the rounding of such a sum could
        # come near TOL (never seen), replay all arcs instead of the tight ones
        arcs = self._occurrences(self._deciding(m, wts, len(self.c.levels) * scale * 2.0 ** -52
                                                <= TOL / 2), wts)
        return self._path(bellman_ford(arcs, self.nv, self.nv - 1))

    def _deciding(self, m: np.ndarray, wts: np.ndarray, tight_only: bool) -> np.ndarray:
        """Entries whose relaxations decide the predecessors on the final vertex's path:
        the tight arcs into it and, recursively, into their sources. A vertex's history
        depends only on arcs into it and its ancestors', so no other arc can matter."""
        final = self.nv - 1
        seen, stack, found = {final}, [final], []
        while stack:
            v = stack.pop()
            lo = int(self.c.col_start[v])
            hi = lo + int(self.c.col_len[v])
            ok = self.c.alive[lo:hi]
            if tight_only:
                ok = ok & (m[self.vi[lo:hi]] + wts[lo:hi] <= m[v] + TOL)
            entries = lo + np.flatnonzero(ok)
            found.append(entries)
            for a in self.vi[entries].tolist():
                if a not in seen:
                    seen.add(a)
                    stack.append(a)
        return np.concatenate(found)

    def _occurrences(self, entries: np.ndarray, wts: np.ndarray
                     ) -> list[tuple[int, int, float]]:
        """(source, target, weight) of every occurrence of these arcs, in official order:
        elementary arcs by (source, target), then merged ones by (k, source, target)."""
        elem = entries[self.dist[entries] == 1]
        elem = elem[np.lexsort((self.tgt[elem], self.vi[elem]))]
        elem = np.repeat(elem, self.occ[elem])
        merged = np.sort(entries[self.dist[entries] > 1])
        first = np.searchsorted(self.c.ev_entry, merged)  # events are in entry order
        count = np.searchsorted(self.c.ev_entry, merged, "right") - first
        ev = np.arange(int(count.sum())) + np.repeat(first - (np.cumsum(count) - count), count)
        ev_entry = self.c.ev_entry[ev]
        ev_entry = ev_entry[np.lexsort((self.tgt[ev_entry], self.vi[ev_entry], self.c.ev_k[ev]))]
        order = np.concatenate([elem, ev_entry])
        return list(zip(self.vi[order].tolist(), self.tgt[order].tolist(),
                        wts[order].tolist()))

    def _path(self, pred: dict[int, int]) -> list[tuple[int, int, str, str]]:
        seq = []
        v = self.nv - 1  # the final cell has the highest rank
        while v in pred:
            a = pred[v]
            _, e = self._arc(self._entry(a, v))
            if e[0] != "noop":
                seq.append((e[1], e[2], e[3], e[4]))
            v = a
        seq.reverse()
        return seq

    def _entry(self, a: int, b: int) -> int:
        lo = int(self.c.col_start[b])
        col = self.vi[lo:lo + int(self.c.col_len[b])]
        return lo + int(np.searchsorted(col, a))
