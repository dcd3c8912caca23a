"""What both M2 lattice implementations share (m2_lattice's dicts, m2_arrays' numpy
arrays): the edit and gold types, the official weights (EPSILON on arcs that match no
gold edit), the weighing of one gold span's arcs and the shortest-path search. A leaf:
m2_lattice hands large lattices to m2_arrays, and both import from here, so neither
imports the other at module level.
"""
from __future__ import annotations

from collections.abc import Callable

INF = float("inf")
EPSILON = 0.001  # weight added to arcs that match no gold edit (official value)

# An edit: (kind, start, end, original, correction, unchanged_words); kind in ins/del/sub/noop.
Edit = tuple[str, int, int, str, str, int]
Gold = tuple[int, int, str, tuple[str, ...]]  # (start, end, original, alternatives)
MAX_UNCHANGED = 30  # the most m2_closure packs; larger limits stay in m2_lattice


def weigh_group(span: tuple[int, int], keys: list[int], golds: list[Gold],
                arc: Callable[[int], tuple[int, Edit]], size: int, wts: dict[int, float],
                neg: int) -> None:
    """Weights of the arcs of one gold span (`keys`: one per occurrence in the arc list,
    sorted), as the official `set_weights`; `arc(key)` gives an arc's (distance, edit)."""
    for key in keys:  # recompute the whole group from the plain distances
        wts[key] = arc(key)[0]

    def matches(key: int, g: Gold) -> bool:
        e = arc(key)[1]
        return e[3] == g[2] and e[4] in g[3]

    def bump(key: int) -> None:
        if arc(key)[1][0] != "noop":
            wts[key] += EPSILON

    if span[0] != span[1]:  # deletion / substitution / noop arcs: order irrelevant
        for key in keys:
            if any(matches(key, g) for g in golds):
                wts[key] = neg
            else:
                bump(key)
        return
    # Insertions at one position: the official two-ended scan, so that a run of gold
    # insertions can be matched by a chain of arcs from either end. The skip loops add
    # EPSILON unconditionally (the official compares an edit tuple with 'noop').
    lptr, rptr, cur = 0, len(keys) - 1, 0
    g_l, g_r = 0, len(golds) - 1
    while lptr <= rptr:
        key = keys[cur]
        from_left = cur == lptr
        cand = range(g_l, g_r + 1) if from_left else range(g_r, g_l - 1, -1)
        hit = next((i for i in cand if matches(key, golds[i])), None)
        if hit is None:
            bump(key)
            if from_left:
                lptr += 1
                cur = rptr
            else:
                rptr -= 1
                cur = lptr
            continue
        wts[key] = neg
        if from_left:
            g_l = hit + 1
            lptr += 1
            while lptr < len(keys) and keys[lptr] // size != keys[cur] % size:
                wts[keys[lptr]] += EPSILON
                lptr += 1
            cur = lptr
        else:
            g_r = hit - 1
            rptr -= 1
            while rptr >= 0 and keys[rptr] % size != keys[cur] // size:
                wts[keys[rptr]] += EPSILON
                rptr -= 1
            cur = rptr


def bellman_ford(arcs: list[tuple[int, int, float]], size: int, passes: int
                 ) -> dict[int, int]:
    """Predecessors of the shortest paths from vertex 0: up to `passes` passes over the
    arcs in order, strict improvement only (so ties keep the first path found, as the
    official scorer does), stopping early when a pass changes nothing."""
    dist: list[float] = [INF] * size
    dist[0] = 0.0
    pred: dict[int, int] = {}
    for _ in range(passes):
        changed = False
        for a, b, c in arcs:
            val = dist[a] + c
            if val < dist[b]:
                dist[b] = val
                pred[b] = a
                changed = True
        if not changed:
            break
    return pred
