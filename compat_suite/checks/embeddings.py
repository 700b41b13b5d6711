"""Embeddings (only when the alias is an embedding model): vector dimension, L2 normalisation, and
cosine similarity of old vs new vectors for the same inputs. A low similarity means vectors from the
two backends cannot be mixed: the vector store must be re-indexed, and the report says so plainly.

The ``embeddings`` case kind fetches the vectors of each side through the protocol layer
(``migrate.protocol.embed_async``) into ``run.aux["embeddings"]``; nothing here knows a wire format.
"""

from __future__ import annotations

import math
from typing import Optional

from .base import CaseRun, CheckContext, result

REINDEX_BELOW = 0.99


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def cosine(a: list[float], b: list[float]) -> Optional[float]:
    if len(a) != len(b) or not a:
        return None
    na, nb = norm(a), norm(b)
    if na == 0 or nb == 0:
        return None
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def compare(old: list[list[float]], new: list[list[float]]) -> tuple[str, str, dict, dict]:
    """(verdict, detail, old observation, new observation)."""
    o = {"dimension": len(old[0]) if old else None, "normalised": all(abs(norm(v) - 1.0) < 1e-3 for v in old)}
    n = {"dimension": len(new[0]) if new else None, "normalised": all(abs(norm(v) - 1.0) < 1e-3 for v in new)}
    if o["dimension"] != n["dimension"]:
        return (
            "regression",
            f"Vector dimension changed ({o['dimension']} -> {n['dimension']}): the "
            "vector store must be re-indexed and its index schema changed.",
            o,
            n,
        )
    sims = [cosine(a, b) for a, b in zip(old, new)]
    sims = [s for s in sims if s is not None]
    low = min(sims) if sims else None
    n["cosine_to_old_min"] = None if low is None else round(low, 4)
    if low is None or low < REINDEX_BELOW:
        return (
            "regression",
            f"Old and new vectors for the same input differ (lowest cosine "
            f"{n['cosine_to_old_min']}): re-index the vector store before switching; do not mix "
            "vectors from the two backends.",
            o,
            n,
        )
    if o["normalised"] != n["normalised"]:
        return (
            "regression",
            "Vector normalisation changed (L2 norm 1 on one side only): dot-product scores will shift.",
            o,
            n,
        )
    return ("pass", f"Same dimension and direction (lowest cosine {n['cosine_to_old_min']}).", o, n)


def embedding_vectors(case, run: CaseRun, ctx: CheckContext) -> dict:
    (old,) = run.aux["embeddings"]["old"]
    (new,) = run.aux["embeddings"]["new"]
    if not old.ok or not new.ok:
        bad, got = ("old", old) if not old.ok else ("new", new)
        return result(
            case,
            "embedding_vectors",
            f"unsupported_{bad}",
            f"The {bad} backend returned no vectors (HTTP {got.status}"
            f"{': ' + got.error.message if got.error else ''}).",
            samples=(1, 1),
        )
    verdict, detail, o, n = compare(old.vectors, new.vectors)
    return result(case, "embedding_vectors", verdict, detail, old_obs=o, new_obs=n, samples=(1, 1))


CHECKS = {"embedding_vectors": embedding_vectors}
