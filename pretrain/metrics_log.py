"""What a run shows and leaves behind: a progress bar, WORKDIR/metrics.jsonl, TensorBoard event files in
WORKDIR/tensorboard and, at the end, WORKDIR/loss.png.

Only process 0 writes. On resume from step k, logged lines after k are dropped first: those steps are about
to be recomputed (identically), and the log keeps one line per step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
PLOT_FILE = "loss.png"


def read_metrics(workdir: str | Path) -> list[dict]:
    path = Path(workdir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsLog:
    def __init__(self, workdir: Path, *, start_step: int, total_steps: int, progress: bool, name: str = "pretrain"):
        self.enabled = jax.process_index() == 0
        self.name = name  # the progress bar's label and the TensorBoard tags' prefix
        self.workdir = workdir
        self.path = workdir / METRICS_FILE
        self.bar = None
        self.writer = None
        if not self.enabled:
            return
        kept = [r for r in read_metrics(workdir) if r["step"] <= start_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self.file = self.path.open("a")
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(workdir / TENSORBOARD_DIR), purge_step=start_step + 1)
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=start_step, unit="step", desc=name, dynamic_ncols=True)

    def advance(self, steps: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(steps)

    def write(self, record: dict) -> None:
        """One logged step: {'step', 'loss', ...}; floats are rounded for a readable file."""
        if not self.enabled:
            return
        record = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in record.items()}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self.writer.add_scalar(f"{self.name}/{key}", value, record["step"])
        self.writer.flush()
        if self.bar is not None:
            # the objective's accuracy: the partner found (contrastive) or the masked frames' codes (best_rq)
            accuracy = [k for k in record if k == "pos_top1" or k.startswith("masked_accuracy_")]
            postfix = {"loss": f"{record['loss']:.3f}", **{k: f"{record[k]:.2f}" for k in accuracy}}
            if "clips_per_s" in record:
                postfix["clips/s"] = f"{record['clips_per_s']:.1f}"
            self.bar.set_postfix(postfix, refresh=False)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        self.file.close()
        self.writer.close()


def plot_loss(workdir: Path) -> Path | None:
    """WORKDIR/loss.png: loss and positive-pair top-1 against step, from metrics.jsonl."""
    records = read_metrics(workdir)
    if not records or jax.process_index() != 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss.plot(steps, [r["loss"] for r in records], color="tab:blue")
    ax_loss.set(xlabel="step", ylabel="loss", title="the objective's loss")
    # what the objective gets right: the partner view (contrastive) or each codebook at masked frames (best_rq)
    accuracy = [k for k in records[0] if k == "pos_top1" or k.startswith("masked_accuracy_")]
    for key in accuracy:
        ax_acc.plot(steps, [r[key] for r in records], label=key)
    ax_acc.set(xlabel="step", ylabel="share", title="accuracy: the partner view, or the masked codes", ylim=(0, 1))
    if accuracy:
        ax_acc.legend(fontsize=8)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(f"pretraining: {workdir}")
    fig.tight_layout()
    path = workdir / PLOT_FILE
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
