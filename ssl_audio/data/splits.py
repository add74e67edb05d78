"""Train / validation / test splits that never put one group (artist) in two splits.

A model that has heard an artist in training recognises that artist's
production, not the genre, so splitting clips at random overstates accuracy.
Whole groups are assigned to splits, stratified by a class column (genre by
default) so every class has artists in every split where it has enough.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import numpy as np

from ssl_audio.data.labels import SPLITS, Record
from ssl_audio.errors import BadValueError


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise BadValueError(f"--splits must be three numbers like 0.8,0.1,0.1, got {text!r}") from None
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise BadValueError(f"--splits must be three non-negative numbers like 0.8,0.1,0.1, got {text!r}")
    total = sum(parts)
    return tuple(p / total for p in parts)  # type: ignore[return-value]


def assign_splits(
    records: list[Record],
    *,
    group_by: str,
    fractions: tuple[float, float, float],
    seed: int = 0,
    stratify_by: str | None = None,
) -> None:
    """Sets `record.split` in place, whole groups at a time (a record without the column is its own group)."""
    groups: dict[str, list[Record]] = collections.defaultdict(list)
    for r in records:
        groups[r.group(group_by)].append(r)

    strata: dict[str, list[str]] = collections.defaultdict(list)
    for name, members in groups.items():
        if stratify_by:
            votes = collections.Counter(str(m.labels.get(stratify_by)) for m in members)
            stratum = min(votes, key=lambda k: (-votes[k], k))
        else:
            stratum = ""
        strata[stratum].append(name)

    rng = np.random.default_rng([seed, 0x5B117])
    for stratum in sorted(strata):
        names = sorted(strata[stratum])
        rng.shuffle(names)
        for name, split in zip(names, _split_sequence(len(names), fractions)):
            for r in groups[name]:
                r.split = split


def _split_sequence(n: int, fractions: tuple[float, float, float]) -> list[str]:
    """Which split each of n shuffled groups goes to: at least one group in each split that asks for any,
    when there are enough groups, and the rest in proportion."""
    counts = [0, 0, 0]
    wanted = [i for i in range(3) if fractions[i] > 0]
    if n >= len(wanted):
        for i in wanted:
            counts[i] = 1
    for _ in range(n - sum(counts)):
        # Give the next group to the split furthest below its share.
        total = sum(counts) + 1
        deficit = [fractions[i] * total - counts[i] for i in range(3)]
        counts[int(np.argmax(deficit))] += 1
    # Validation and test first: small strata then still get held-out groups.
    order = [1, 2, 0]
    return [SPLITS[i] for i in order for _ in range(counts[i])]


def record_groups(records: list[Record], group_by: str) -> Iterable[tuple[str, str]]:
    """(group value, split) of each record that has the group column: `find_leaks`' input for records."""
    return ((str(r.labels[group_by]), r.split) for r in records if group_by in r.labels)


def find_leaks(pairs: Iterable[tuple[str, str]], *, involving: str | None = None) -> dict[str, list[str]]:
    """The one definition of a leak: a group (artist) found in more than one split.

    `pairs`: (group value, split) per clip. Returns {group: sorted splits}, only groups whose splits include
    `involving` when given (the probe cares about groups shared *with test*). Empty means no leak.
    Used by prepare (splits given by a CSV), info (what it prints) and probe (what it refuses).
    """
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for group, split in pairs:
        if split is not None:
            seen[str(group)].add(split)
    return {g: sorted(s) for g, s in sorted(seen.items()) if len(s) > 1 and (involving is None or involving in s)}
