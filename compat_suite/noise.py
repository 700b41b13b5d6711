"""Diffy's noise rule, adapted to a handful of repeated LLM requests.

Diffy (prior-art §1) sends each request to a primary, a secondary (another copy of the old code)
and the candidate, and reports a field only when candidate-vs-primary disagreement (*raw*) clearly
exceeds primary-vs-secondary disagreement (*noise*): raw > noise AND relative > threshold.relative
AND absolute > threshold.absolute. Here the old backend is asked ``--baseline-repeats`` times
(the primary/secondary pairs are all old-vs-old pairs) and the new one ``--repeats`` times (raw =
all old-vs-new pairs). Rates replace Diffy's traffic counts, since every case is one "endpoint".

Small samples: if the old backend never disagreed with itself, one consistent difference is
enough (a deterministic divergence). If it did disagree, a difference only counts with at least
``min_noisy_samples`` per side; with fewer the field is *insufficient* and we say how many more
repeats would decide. With a single old sample the noise is unknown: one more baseline run decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Any, Callable, Optional, Sequence

SAME, NOISY, DIFFERS, INSUFFICIENT = "same", "noisy", "differs", "insufficient"


@dataclass(frozen=True)
class Thresholds:
    relative: float = 20.0  # percent, as Diffy's threshold.relative
    absolute: float = 0.03  # percent, as Diffy's threshold.absolute
    min_noisy_samples: int = 5  # per side, when the old backend disagrees with itself


DEFAULT = Thresholds()


@dataclass
class FieldJudgement:
    field: str
    decision: str  # same | noisy | differs | insufficient
    raw_rate: float = 0.0
    noise_rate: Optional[float] = None
    needed: int = 0  # more repeats (per side) that would decide, when insufficient
    detail: str = ""

    def as_dict(self) -> dict:
        return {
            "field": self.field,
            "decision": self.decision,
            "raw_rate": round(self.raw_rate, 4),
            "noise_rate": None if self.noise_rate is None else round(self.noise_rate, 4),
            "needed": self.needed,
        }


def judge_field(
    name: str,
    old: Sequence[Any],
    new: Sequence[Any],
    differ: Callable[[Any, Any], bool],
    thresholds: Thresholds = DEFAULT,
) -> FieldJudgement:
    """Decide one field from the old and new samples of it."""
    if not old or not new:
        need_old = max(0, 2 - len(old))
        return FieldJudgement(
            name, INSUFFICIENT, needed=max(need_old, 1 if not new else 0), detail="no samples on one side"
        )
    raw_pairs = list(product(old, new))
    raw = sum(1 for a, b in raw_pairs if differ(a, b)) / len(raw_pairs)
    if raw == 0:
        return FieldJudgement(name, SAME, raw_rate=0.0, noise_rate=_noise(old, differ))
    noise = _noise(old, differ)
    if noise is None:
        return FieldJudgement(
            name, INSUFFICIENT, raw_rate=raw, needed=1, detail="one old sample: old-vs-old noise unknown"
        )
    if raw <= noise:
        return FieldJudgement(
            name, NOISY, raw_rate=raw, noise_rate=noise, detail="within the old backend's own disagreement"
        )
    relative = (raw - noise) / (raw + noise) * 100.0
    absolute = (raw - noise) * 100.0
    if relative <= thresholds.relative or absolute <= thresholds.absolute:
        return FieldJudgement(name, NOISY, raw_rate=raw, noise_rate=noise, detail="below the difference thresholds")
    if noise > 0:
        short = max(thresholds.min_noisy_samples - len(old), thresholds.min_noisy_samples - len(new))
        if short > 0:
            return FieldJudgement(
                name,
                INSUFFICIENT,
                raw_rate=raw,
                noise_rate=noise,
                needed=short,
                detail="the old backend disagrees with itself on this field",
            )
    return FieldJudgement(name, DIFFERS, raw_rate=raw, noise_rate=noise)


def _noise(old: Sequence[Any], differ: Callable[[Any, Any], bool]) -> Optional[float]:
    pairs = list(combinations(old, 2))
    if not pairs:
        return None
    return sum(1 for a, b in pairs if differ(a, b)) / len(pairs)


def mode(values: Sequence[Any]) -> Any:
    """The most frequent value (first seen wins ties); values may be unhashable."""
    best, best_n = None, -1
    for v in values:
        n = sum(1 for w in values if w == v)
        if n > best_n:
            best, best_n = v, n
    return best


@dataclass
class Judgement:
    """All fields of one check: the combined decision."""

    fields: list[FieldJudgement] = field(default_factory=list)

    @property
    def differing(self) -> list[FieldJudgement]:
        return [f for f in self.fields if f.decision == DIFFERS]

    @property
    def insufficient(self) -> list[FieldJudgement]:
        return [f for f in self.fields if f.decision == INSUFFICIENT]

    @property
    def needed(self) -> Optional[int]:
        need = [f.needed for f in self.insufficient]
        return max(need) if need else None
