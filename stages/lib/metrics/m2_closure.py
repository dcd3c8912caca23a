"""The closed M2 edit lattice of one sentence pair on numpy arrays (used by m2_arrays).

m2_lattice builds the closure with the official triple loop (made cheaper): for each
vertex k in order, for each arc vi -> k, for each elementary arc k -> vj, a merged arc
vi -> vj is created, or replaced when strictly shorter, if it keeps at most
`max_unchanged_words` unchanged words; every creation or replacement appends the arc to
the official arc list once more. Here the same result is computed by target instead of
by k: an arc vi -> vj only ever comes from an elementary predecessor k of vj (diagonal,
above or left: at most three) and the arc vi -> k, final by then. So the arcs into vj (its
"column") follow from its predecessors' columns taken in ascending k, and as all
predecessors of cell (i, j) lie on earlier anti-diagonals i + j, one anti-diagonal at a
time is one vectorised step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.lib.metrics.m2_weights import MAX_UNCHANGED

# A kind is the set of pure kinds a merged edit still is: m2_lattice._merge keeps a kind
# only when both sides have it, and anything mixed is a substitution (the empty set), so
# merging two kinds is a bitwise AND.
NOOP, INS, DEL, SUB = 1, 2, 4, 0
# An arc's attributes packed in one int32, so the closure moves one array instead of
# three: distance << 8 | unchanged words << 3 | kind. MAX_UNCHANGED + 1 fits in U_MASK.
DIST, U_SHIFT, U_MASK = 8, 3, 31


@dataclass
class Closure:
    """Arcs ("entries") grouped by target, one anti-diagonal after the other. Vertices
    are numbered by the rank of their cell i * (m + 1) + j."""

    cells: np.ndarray  # per vertex: its cell
    vi: np.ndarray  # per entry: source vertex
    tgt: np.ndarray  # per entry: target vertex
    attr: np.ndarray  # per entry: packed distance, unchanged words, kind
    occ: np.ndarray  # per entry: occurrences in the official arc list
    col_start: np.ndarray  # per vertex: first entry of the arcs into it
    col_len: np.ndarray
    levels: list[tuple[int, int, np.ndarray, np.ndarray]]  # entry range, starts, targets
    ev_k: np.ndarray  # per occurrence of a merged arc: the k that made it, in entry order
    ev_entry: np.ndarray
    n_elem_occ: int  # occurrences of the elementary arcs, which open the list
    alive: np.ndarray  # False: a multi-token no-op arc, removed (remove_noops)

    @property
    def dist(self) -> np.ndarray:
        return self.attr >> DIST

    @property
    def kind(self) -> np.ndarray:
        return self.attr & 7


def build(src: list[str], hyp: list[str], e1: set[tuple[int, int]], e2: set[tuple[int, int]],
          max_unchanged: int) -> Closure:
    """The closure of the united lattices e1, e2 (arcs between cells), noops removed."""
    if max_unchanged > MAX_UNCHANGED:
        raise ValueError(f"max_unchanged_words above {MAX_UNCHANGED}")
    w = len(hyp) + 1
    elem = sorted(e1 | e2)  # the official list starts with these, duplicates adjacent
    ea = np.array([a for a, _ in elem], np.int64)
    eb = np.array([b for _, b in elem], np.int64)
    mult = np.array([(ab in e1) + (ab in e2) for ab in elem], np.int16)
    cells = np.unique(np.concatenate([[0], eb]))
    (ai, aj), (bi, bj) = np.divmod(ea, w), np.divmod(eb, w)
    ids: dict[str, int] = {}
    src_ids = np.array([ids.setdefault(t, len(ids)) for t in src] + [-1], np.int64)
    hyp_ids = np.array([ids.setdefault(t, len(ids)) for t in hyp] + [-2], np.int64)
    kind = np.where((bi == ai + 1) & (bj == aj + 1),
                    np.where(src_ids[ai] == hyp_ids[aj], NOOP, SUB),
                    np.where(bi == ai + 1, DEL, INS))
    attr = (1 << DIST | (kind == NOOP) << U_SHIFT | kind).astype(np.int32)
    by_level = np.lexsort((ea, eb, bi + bj))  # by (anti-diagonal of target, target, k)
    closure = _close(np.searchsorted(cells, ea)[by_level].astype(np.int32),
                     np.searchsorted(cells, eb)[by_level], attr[by_level], mult[by_level],
                     (bi + bj)[by_level], cells, max_unchanged)
    remove_noops(closure)
    return closure


class _Store:
    """Growable per-entry arrays."""

    def __init__(self, cap: int) -> None:
        self.vi, self.attr = np.empty(cap, np.int32), np.empty(cap, np.int32)
        self.occ, self.used = np.empty(cap, np.int16), 0

    def append(self, vi: np.ndarray, attr: np.ndarray, occ: np.ndarray) -> None:
        lo, hi = self.used, self.used + len(vi)
        if hi > len(self.vi):
            cap = max(hi, 2 * len(self.vi))
            for name in ("vi", "attr", "occ"):
                old = getattr(self, name)
                new = np.empty(cap, old.dtype)
                new[:lo] = old[:lo]
                setattr(self, name, new)
        self.vi[lo:hi], self.attr[lo:hi], self.occ[lo:hi] = vi, attr, occ
        self.used = hi


def _close(ra: np.ndarray, rb: np.ndarray, eattr: np.ndarray, mult: np.ndarray,
           level: np.ndarray, cells: np.ndarray, max_unchanged: int) -> Closure:
    """Columns for the elementary arcs ra -> rb (vertex ranks) sorted by (level, rb, ra).

    (Array methods rather than np.* functions below: the loop runs once per
    anti-diagonal, and the wrappers' overhead was a tenth of the time.)
    """
    nv = len(cells)
    bounds = np.concatenate([[0], (np.diff(level) != 0).nonzero()[0] + 1, [len(ra)]])
    new_t = np.ones(len(rb), bool)  # per arc: its target's index in its level
    new_t[1:] = rb[1:] != rb[:-1]
    t_id = new_t.cumsum() - 1
    t_loc = t_id - t_id[bounds[:-1]].repeat(np.diff(bounds))
    # sort keys (target in level, source) in int32 when they fit: a faster sort
    t_key = (t_loc * nv).astype(np.int32 if (int(t_loc.max()) + 1) * nv < 2**31 else np.int64)
    # what an elementary step k -> target adds to an arc vi -> k (a distance, maybe an
    # unchanged word) and the kinds it keeps (an AND mask leaving the high bits alone)
    e_add, e_and = eattr & ~7, eattr | ~7
    noop_step = (eattr & 7) == NOOP
    store = _Store(8 * len(ra))
    col_start, col_len = np.zeros(nv, np.int64), np.zeros(nv, np.int64)
    levels, ev_k, ev_entry, tgt_counts = [], [], [], []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        pk, npair = ra[lo:hi], hi - lo
        lens = col_len[pk]
        pair = np.arange(npair).repeat(lens)
        idx = np.arange(len(pair)) + (col_start[pk] - (lens.cumsum() - lens)).repeat(lens)
        a = store.attr[idx] + e_add[lo:hi][pair]
        if max_unchanged < 1 or noop_step[lo:hi].any():  # drop rows over the limit
            keep = (a >> U_SHIFT & U_MASK) <= max_unchanged
            a, idx, pair = a[keep], idx[keep], pair[keep]
        a &= e_and[lo:hi][pair]
        # rows: the elementary arcs first (distance 1: nothing merged replaces them), then
        # the candidates pair by pair in ascending k; a stable sort by (target, source)
        # keeps that order inside the rows of one arc (at most three)
        key = np.empty(npair + len(a), t_key.dtype)
        key[:npair] = t_key[lo:hi] + pk
        np.add(t_key[lo:hi][pair], store.vi[idx], out=key[npair:])
        o = key.argsort(kind="stable")
        key, attr = key[o], np.concatenate([eattr[lo:hi], a])[o]
        imp, group_start = _improvements(key, attr >> DIST)
        first = group_start.nonzero()[0]
        last_pos = np.empty_like(first)
        last_pos[:-1], last_pos[-1] = first[1:] - 1, len(imp) - 1
        last = imp[last_pos]  # the arc kept: its last (shortest) improvement
        occ = np.where(o[last] < npair, mult[lo:hi][np.minimum(o[last], npair - 1)],
                       last_pos - first + 1)
        t_local, vi = np.divmod(key[last], nv)
        targets = rb[lo:hi][new_t[lo:hi]]
        counts = np.bincount(t_local, minlength=len(targets))
        starts = counts.cumsum() - counts
        col_start[targets], col_len[targets] = store.used + starts, counts
        levels.append((store.used, store.used + len(last), starts, targets))
        tgt_counts.append(counts)
        ev = o[imp] >= npair  # improvements by merged candidates: list occurrences
        ev_k.append(pk[pair[o[imp[ev]] - npair]])
        ev_entry.append(store.used + (group_start.cumsum() - 1)[ev])
        store.append(vi, attr[last], occ)
    n = store.used
    tgt = np.concatenate([t for _, _, _, t in levels]).repeat(np.concatenate(tgt_counts))
    return Closure(cells, store.vi[:n], tgt, store.attr[:n], store.occ[:n], col_start,
                   col_len, levels, np.concatenate(ev_k), np.concatenate(ev_entry),
                   int(mult.sum()), np.ones(n, bool))


def _improvements(key: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows that strictly shorten their arc (rows of one arc are adjacent, at most three,
    in official order), and which of those start a new arc."""
    same = key[1:] == key[:-1]
    ok = np.ones(len(key), bool)
    ok[1:] = ~same | (dist[1:] < dist[:-1])
    ok[2:] &= ~(same[1:] & same[:-1]) | (dist[2:] < dist[:-2])
    imp = ok.nonzero()[0]
    ik = key[imp]
    start = np.empty(len(imp), bool)
    start[0], start[1:] = True, ik[1:] != ik[:-1]
    return imp, start


def remove_noops(c: Closure) -> None:
    """The official removal of multi-token no-op arcs, which deletes from the list it
    iterates: the arc right after a removed one is skipped, so of two such arcs next to
    each other in the list the second stays. Each occurs once (made first, at its middle
    vertex, with the shortest distance), so only what lies between them matters.
    """
    noop = (c.kind == NOOP) & (c.dist > 1)
    if not noop.any():
        return
    nv = len(c.col_start)
    is_ev = noop[c.ev_entry]
    ks, entries = c.ev_k[is_ev], c.ev_entry[is_ev]
    order = np.argsort(ks)
    ks, entries = ks[order], entries[order]
    if len(entries) != int(noop.sum()) or np.any(ks[1:] == ks[:-1]):
        raise AssertionError("a multi-token no-op arc occurs more than once")
    # list occurrences between two consecutive no-op arcs: all those made at a k strictly
    # between theirs, those after the first at its k and those before the second at its
    # k (occurrences made at one k are in (source, target) order)
    at = np.zeros(nv, np.int64)
    at[ks] = c.vi[entries].astype(np.int64) * nv + c.tgt[entries]
    mine = np.zeros(nv, bool)
    mine[ks] = True
    near = np.flatnonzero(mine[c.ev_k])
    k_near = c.ev_k[near]
    key = c.vi[c.ev_entry[near]].astype(np.int64) * nv + c.tgt[c.ev_entry[near]]
    after = np.bincount(k_near[key > at[k_near]], minlength=nv)
    before = np.bincount(k_near[key < at[k_near]], minlength=nv)
    below = np.concatenate([[0], np.cumsum(np.bincount(c.ev_k, minlength=nv))])
    removed_prev = False
    for i, entry in enumerate(entries.tolist()):
        between = i and (after[ks[i - 1]] + below[ks[i]] - below[ks[i - 1] + 1]
                         + before[ks[i]])
        if removed_prev and between == 0:  # skipped by the official loop: stays
            removed_prev = False
            continue
        c.alive[entry] = False
        removed_prev = True
