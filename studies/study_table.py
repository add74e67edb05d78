"""The quality study's table rows: validation metrics from probe runs, mean ± sd over runs of one setting.

    python -m studies.study_table "mean pooling=runs/a/probe,runs/b/probe" "mean+max=runs/c/probe"

Each argument is `LABEL=PROBE_DIR[,PROBE_DIR...]` (one probe directory per pretraining seed); each row gives,
per task, the pretrained features' validation metric (the split choices are made on, docs/quality.md)
as mean ± sd over the directories, and n. The test split is not read here.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

TASKS = ("genre", "mood", "instruments", "valence", "arousal")


def validation(probe_dir: str | Path, features: str = "pretrained") -> dict[str, float]:
    results = json.loads((Path(probe_dir) / "results.json").read_text())
    return {
        task: float(entry["by_features"][features]["validation"])
        for task, entry in results["tasks"].items()
        if features in entry["by_features"]
    }


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def row(label: str, probe_dirs: list[str], features: str = "pretrained") -> str:
    runs = [validation(d, features) for d in probe_dirs]
    cells = [_cell([r[t] for r in runs if t in r]) for t in TASKS]
    return f"| {label} | {len(runs)} | " + " | ".join(cells) + " |"


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m studies.study_table", description=__doc__.split("\n")[0])
    p.add_argument("rows", nargs="+", metavar="LABEL=PROBE_DIR[,PROBE_DIR...]", help="one table row per argument")
    p.add_argument("--features", default="pretrained", help="which feature kind's metric (default pretrained)")
    args = p.parse_args(argv)
    for spec in args.rows:
        if "=" not in spec:
            p.error(f"{spec!r}: write LABEL=PROBE_DIR[,PROBE_DIR...]")
    missing = [
        d for spec in args.rows for d in spec.partition("=")[2].split(",") if not (Path(d) / "results.json").exists()
    ]
    if missing:
        p.error(f"{missing[0]}: no results.json there (give the probe's --out folder)")
    print("| setting | runs | " + " | ".join(f"{t} (val)" for t in TASKS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in TASKS) + " |")
    for spec in args.rows:
        label, _, dirs = spec.partition("=")
        print(row(label, dirs.split(","), args.features))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
