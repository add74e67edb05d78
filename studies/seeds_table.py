"""The study's final table: the test split over several pretraining seeds of one recipe, read once.

    python -m studies.seeds_table study/recipe-s0/probe study/recipe-s1/probe study/recipe-s2/probe

Each argument is one probe folder (`ssl-audio probe --features pretrained,mfcc,random`) of one pretraining
seed; every folder must hold the same test clips in the same order (`test_outputs.npz`, written by every
probe). Per task: each feature kind's test metric as mean ± sd over the seeds, and pretrained − MFCC and
pretrained − random-init as the mean over seeds with a two-level bootstrap 95% interval (seeds and test
clips both resampled: linear_probe.bootstrap.bootstrap_over_runs), so the verdict carries the seed-to-seed
spread that one `make demo` cannot. Prints a markdown table and, last, one line per task in the probe's
form (`demo TASK metric=M pretrained=… mfcc=… random=… pretrained_vs_mfcc=…`).

Choices are made on validation (studies.study_table); this reads the test split and is for the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from ssl_audio_linear_probe.bootstrap import bootstrap_over_runs, metric_value
from ssl_audio_linear_probe.report import interval
from ssl_audio_linear_probe.run import TEST_OUTPUTS

BASELINES = ("mfcc", "random")


def _load(probe_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    results = json.loads((probe_dir / "results.json").read_text())
    with np.load(probe_dir / TEST_OUTPUTS) as z:
        return results, {name: z[name] for name in z.files}


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _verdict(r: dict) -> str:
    return f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] {r['verdict']}"


def seeds_table(probe_dirs: list[Path]) -> tuple[list[str], list[str], dict]:
    """(markdown table lines, one summary line per task, the numbers as a dict)."""
    loaded = [_load(d) for d in probe_dirs]
    first_results, first_outputs = loaded[0]
    for d, (_, outputs) in zip(probe_dirs[1:], loaded[1:]):
        if "keys" in first_outputs and not np.array_equal(outputs.get("keys"), first_outputs["keys"]):
            raise ValueError(f"{d}: its test clips are not {probe_dirs[0]}'s (another dataset or split?)")
    dataset = first_results["dataset"]
    numbers: dict = {"dataset": dataset, "runs": [str(d) for d in probe_dirs], "tasks": {}}
    table = [
        "| task (metric) | pretrained | MFCC | random-init | pretrained − MFCC [95%] | pretrained − random [95%] |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines = []
    for task, entry in first_results["tasks"].items():
        kind, metric = entry["kind"], entry["metric"]
        labels = first_outputs[f"{task}.labels"]
        runs = {}
        for f in ("pretrained", *BASELINES):
            key = f"{task}.{f}"
            missing = [str(d) for d, (_, o) in zip(probe_dirs, loaded) if key not in o]
            if missing:
                if f == "pretrained":
                    raise ValueError(f"{missing[0]}: no pretrained test scores for {task}")
                continue
            for d, (_, o) in zip(probe_dirs, loaded):
                if not np.array_equal(o[f"{task}.labels"], labels):
                    raise ValueError(f"{d}: its {task} test labels differ from {probe_dirs[0]}'s")
            runs[f] = [o[key] for _, o in loaded]
        values = {f: [metric_value(kind, metric, labels, s) for s in r] for f, r in runs.items()}
        versus = {
            f: bootstrap_over_runs(kind, metric, labels, runs["pretrained"], runs[f]) for f in BASELINES if f in runs
        }
        numbers["tasks"][task] = {"metric": metric, "test": values, "comparisons": versus}
        cells = [_cell(values[f]) if f in values else "–" for f in ("pretrained", *BASELINES)]
        cells += [_verdict(versus[f]) if f in versus else "–" for f in BASELINES]
        table.append(f"| {task} ({metric}) | " + " | ".join(cells) + " |")
        means = " ".join(f"{f}={statistics.mean(v):.3f}" for f, v in values.items())
        pairs = " ".join(f"pretrained_vs_{f}={interval(r)}" for f, r in versus.items())
        lines.append(f"{dataset} {task} metric={metric} {means} seeds={len(probe_dirs)} {pairs}")
    return table, lines, numbers


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.seeds_table", description=__doc__.split("\n")[0])
    p.add_argument("probe_dirs", nargs="+", type=Path, metavar="PROBE_DIR", help="one probe --out folder per seed")
    p.add_argument("--json", type=Path, help="also write the numbers to this file (refused if it exists)")
    args = p.parse_args(argv)
    for d in args.probe_dirs:
        if not (d / "results.json").exists():
            p.error(f"{d}: no results.json there (give the probe's --out folder)")
        if not (d / TEST_OUTPUTS).exists():
            p.error(
                f"{d}: no {TEST_OUTPUTS} there (written by ssl-audio probe since it keeps test scores; probe again)"
            )
    if args.json is not None and args.json.exists():
        p.error(f"--json {args.json}: exists; give a new path")
    try:
        table, lines, numbers = seeds_table(args.probe_dirs)
    except ValueError as err:
        p.error(str(err))
    print("\n".join(table))
    print()
    print("\n".join(lines))
    if args.json is not None:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
