"""Comparing two runs' metrics.json step by step: what a resumed run lost, repeated or changed.

Used by the chaos check (tools/bench/chaos.py) and the crash tests. The timing metrics (`steps_per_sec`) measure wall time, not
learning, and are left out by default.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMING_METRICS = ("steps_per_sec",)


def read_metrics(run_dir: str | Path) -> dict[str, dict[str, list[Any]]]:
    """A sacred run folder's metrics.json: {key: {"steps": [...], "values": [...], ...}}."""
    return json.loads((Path(run_dir) / "metrics.json").read_text())


@dataclass
class MetricsDiff:
    """Per metric key, the steps that differ between a reference run and a candidate run."""

    lost: dict[str, list[int]] = field(default_factory=dict)
    extra: dict[str, list[int]] = field(default_factory=dict)
    duplicated: dict[str, list[int]] = field(default_factory=dict)
    mismatched: dict[str, list[int]] = field(default_factory=dict)

    @property
    def steps_lost(self) -> int:
        """Entries the reference logged that the candidate lacks (a gap)."""
        return sum(len(v) for v in self.lost.values())

    @property
    def steps_duplicated(self) -> int:
        """Steps the candidate logged more often than the reference did (a step logged twice)."""
        return sum(len(v) for v in self.duplicated.values())

    @property
    def curves_match(self) -> bool:
        """Same keys, same steps, and bit-identical values at every step."""
        return not (self.lost or self.extra or self.duplicated or self.mismatched)

    def summary(self) -> str:
        lines = [
            f"metric steps lost (gaps against the reference): {self.steps_lost}",
            f"metric steps duplicated: {self.steps_duplicated}",
            f"metric steps only in the compared run: {sum(len(v) for v in self.extra.values())}",
            f"metric values that differ: {sum(len(v) for v in self.mismatched.values())}",
            f"curves identical: {'yes' if self.curves_match else 'no'}",
        ]
        for name, part in (("lost", self.lost), ("extra", self.extra), ("duplicated", self.duplicated), ("differ", self.mismatched)):
            for key, steps in sorted(part.items()):
                lines.append(f"  {name} {key}: steps {steps[:10]}{' ...' if len(steps) > 10 else ''}")
        return "\n".join(lines)


def compare_metrics(
    reference: dict[str, dict[str, list[Any]]],
    candidate: dict[str, dict[str, list[Any]]],
    ignore: tuple[str, ...] = TIMING_METRICS,
) -> MetricsDiff:
    diff = MetricsDiff()
    for key in sorted((set(reference) | set(candidate)) - set(ignore)):
        ref = reference.get(key, {"steps": [], "values": []})
        cand = candidate.get(key, {"steps": [], "values": []})
        ref_counts, counts = Counter(ref["steps"]), Counter(cand["steps"])
        repeated = sorted(step for step, n in counts.items() if n > max(1, ref_counts[step]))
        ref_values = dict(zip(ref["steps"], ref["values"]))
        cand_values = dict(zip(cand["steps"], cand["values"]))
        lost = sorted(set(ref_values) - set(cand_values))
        extra = sorted(set(cand_values) - set(ref_values))
        differ = sorted(s for s in set(ref_values) & set(cand_values) if ref_values[s] != cand_values[s])
        for part, steps in ((diff.lost, lost), (diff.extra, extra), (diff.duplicated, repeated), (diff.mismatched, differ)):
            if steps:
                part[key] = steps
    return diff
