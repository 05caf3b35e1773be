"""How a snapped point joins the road graph: the plumbing shared by matrices and legs.

A point on a road piece (a chain from junction ``u`` to ``v``) leaves by ``v`` if traffic may
drive forward, or by ``u`` if it may drive backward, paying the part of the piece it drives;
it is reached likewise. Two points on one piece may also drive straight along it.
"""

from __future__ import annotations

import numpy as np

from geo.network import Graph, Network
from geo.snapping import Snapped

__all__ = ["access_ends", "along_same_chain"]


def access_ends(
    network: Network, profile: str, snapped: Snapped
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exit and entry junctions of each snapped point, with the partial-chain seconds.

    Returns ``(out_node, out_cost, in_node, in_cost)``, each ``n x 2``; a closed direction
    has cost ``inf`` (and node 0, never used).
    """
    graph = network.graph(profile)
    c, t = snapped.chain, snapped.fraction
    u = graph.chain_u[c].astype(np.int64)
    v = graph.chain_v[c].astype(np.int64)
    forward = graph.chain_forward_seconds[c]
    backward = graph.chain_backward_seconds[c]
    out_node = np.column_stack([v, u])
    in_node = np.column_stack([u, v])
    # inf * 0 is nan where a point sits exactly on a closed direction's junction.
    with np.errstate(invalid="ignore"):
        out_cost = np.column_stack([(1.0 - t) * forward, t * backward])
        in_cost = np.column_stack([t * forward, (1.0 - t) * backward])
    is_open = np.isfinite(np.column_stack([forward, backward]))
    out_cost = np.where(is_open, out_cost, np.inf)
    in_cost = np.where(is_open, in_cost, np.inf)
    return out_node, out_cost, in_node, in_cost


def along_same_chain(graph: Graph, rows: Snapped, columns: Snapped, result: np.ndarray) -> None:
    """Let points on one chain drive straight along it, without a detour via a junction."""
    ii, jj = np.nonzero(rows.chain[:, None] == columns.chain[None, :])
    if len(ii) == 0:
        return
    chain = rows.chain[ii]
    ahead = columns.fraction[jj] - rows.fraction[ii]
    forward = graph.chain_forward_seconds[chain]
    backward = graph.chain_backward_seconds[chain]
    with np.errstate(invalid="ignore"):
        direct = np.where(
            ahead >= 0,
            np.where(np.isfinite(forward), ahead * forward, np.inf),
            np.where(np.isfinite(backward), -ahead * backward, np.inf),
        )
    result[ii, jj] = np.minimum(result[ii, jj], direct)
