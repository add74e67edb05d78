"""Can the demo's front end carry mode, and can a tonality pretext find it without labels? (lever 6)

A study diagnostic, not a job: docs/quality.md ("Lever 6") has the command and what it printed.

Mood is stuck because valence (the clip's mode, major or minor) is at chance for every feature kind. This
asks three questions on the semitone bands the demo's encoder sees (84 bands from C2, n_fft 1024), folded
into a 12-bin chroma per frame:

- `keyfinder`: the Krumhansl-Kessler key finder on that chroma (no training): how much mode the front end
  keeps at all (on librosa's CQT chroma the same finder gets 0.725 of all clips).
- `supervised`: a key head that is transposition-equivariant by construction (the clip's mean chroma
  correlated with the 12 rotations of two learned 12-bin profiles, softmax over the 24 keys), trained on
  the mode labels of the train split: the best a mean-chroma key head can read.
- `pretext`: the same head trained without labels, as a STONE-like pretext (Kong et al. 2024): two crops
  of a clip, each rolled by a random whole number of semitones, must give key distributions that are the
  same up to that roll (the cross-power term of the 12-bin DFT), and the two crops' mode marginals must
  agree (mutual information of the two crops' mode assignments, IIC, which also keeps both modes used).
  If this split fell on major/minor, a pretext would teach mode without labels.

Validation split only; the profile heads over three seeds.

    python -m studies.tonality_check --dataset demo --data-dir data/demo/tfds
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssl_audio.data.location import as_float
from ssl_audio.data.pipeline import open_dataset
from ssl_audio.errors import UsageError
from ssl_audio.models.frontend import log_mel
from ssl_audio_pretrain.config import load_config

KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
ROTATIONS = np.stack([np.roll(np.eye(12), k, axis=1) for k in range(12)])  # [k, p, q]: profile p moved to q
CROP_FRAMES = 125  # 2 s at hop 256, 16 kHz: the demo's view length
DEMO_CONFIG = "configs/simclr_logmel_cnn.py:demo"  # whose front end is measured (84 semitone bands from C2)


def band_frames(dataset: str, data_dir: str, splits: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split -> (log power in the demo encoder's bands [N, frames, bands], sign of valence [N] bool): the
    front end of `DEMO_CONFIG`'s model, on the samples as the model reads them."""
    model = load_config(DEMO_CONFIG).model
    if model.scale != "log" or model.bins_per_octave != 12:  # chroma folds bands 12 to an octave
        raise SystemExit(f"{DEMO_CONFIG}: the chroma needs semitone bands (scale log, 12 per octave)")
    handle = open_dataset(dataset, data_dir)
    front = dict(n_fft=model.n_fft, hop=model.hop, n_mels=model.n_mels, scale=model.scale, f_min=model.f_min)
    bands = jax.jit(
        lambda a: log_mel(a, sample_rate=handle.sample_rate, bins_per_octave=model.bins_per_octave, **front)
    )
    out = {}
    for split in splits:
        source = handle.source(split)
        x, positive = [], []
        for start in range(0, len(source), 32):
            records = [source[i] for i in range(start, min(start + 32, len(source)))]
            x.append(np.asarray(bands(np.stack([as_float(r["audio"]) for r in records]))))
            positive += [r["valence"] > 0 for r in records]
        out[split] = np.concatenate(x), np.array(positive)
    return out


def chroma(log_bands: np.ndarray, lowest_band: int) -> np.ndarray:
    """[N, T, 84] log band power -> [N, T, 12]: each frame's power from `lowest_band` up (a multiple of 12,
    so bin 0 is C), normalised to sum 1 and folded over octaves. The lowest octaves are left out by choice:
    at n_fft 1024 their semitones share FFT bins."""
    p = np.exp(log_bands[:, :, lowest_band:].astype(np.float64))
    p /= p.sum(-1, keepdims=True) + 1e-12
    return p.reshape(*p.shape[:2], -1, 12).sum(2).astype(np.float32)


def keyfinder_says_major(mean_chroma: np.ndarray) -> np.ndarray:
    """Krumhansl-Kessler: the best major key's correlation against the best minor key's."""

    def best(profile):
        return np.array([[np.corrcoef(c, np.roll(profile, k))[0, 1] for k in range(12)] for c in mean_chroma]).max(1)

    return best(KK_MAJOR) > best(KK_MINOR)


def key_probabilities(params: dict, mean_chroma: jax.Array) -> jax.Array:
    """[B, 12] -> [B, 2 modes, 12 tonics]: softmax over the 24 correlations of the standardised chroma with
    each mode's profile at each rotation. Rolling the chroma by k rolls the tonic axis by k, by construction."""
    c = (mean_chroma - mean_chroma.mean(-1, keepdims=True)) / (mean_chroma.std(-1, keepdims=True) + 1e-6)
    profiles = jnp.einsum("mp,kpq->mkq", params["profiles"], ROTATIONS)
    logits = params["scale"] * jnp.einsum("bq,mkq->bmk", c, profiles)
    return jax.nn.softmax(logits.reshape(len(c), 24)).reshape(len(c), 2, 12)


def equivariance_loss(p_a: jax.Array, p_b: jax.Array, shift: jax.Array) -> jax.Array:
    """1 - Re(Y_b conj(Y_a e^{2 pi i shift / 12})), Y the first DFT coefficient of the tonic marginal (STONE's
    cross-power term): 0 only when both are one-hot and b's tonic is a's moved up by `shift` semitones."""
    omega = jnp.exp(2j * jnp.pi * jnp.arange(12) / 12)
    y_a, y_b = (p_a.sum(1) * omega).sum(-1), (p_b.sum(1) * omega).sum(-1)
    return 1.0 - jnp.real(y_b * jnp.conj(y_a * jnp.exp(2j * jnp.pi * shift / 12)))


def mode_information(q_a: jax.Array, q_b: jax.Array) -> jax.Array:
    """Mutual information (nats) between two crops' mode assignments [B, 2] (IIC): high when the crops agree
    and both modes are used."""
    joint = (q_a[:, :, None] * q_b[:, None, :]).mean(0)
    joint = (joint + joint.T) / 2
    marginals = jnp.log(joint.sum(0, keepdims=True) + 1e-9) + jnp.log(joint.sum(1, keepdims=True) + 1e-9)
    return jnp.sum(joint * (jnp.log(joint + 1e-9) - marginals))


def _crops(frames: jax.Array, key: jax.Array):
    """Two crops' mean chroma per clip, each rolled by its own whole number of semitones in [-4, 4]."""
    n, t, _ = frames.shape
    k_shift, k_start = jax.random.split(key)
    shift = jax.random.randint(k_shift, (2, n), -4, 5)
    start = jax.random.randint(k_start, (2, n), 0, max(t - CROP_FRAMES, 1))

    def one(clip, s, t0):
        return jnp.roll(jax.lax.dynamic_slice_in_dim(clip, t0, CROP_FRAMES, 0).mean(0), s)

    a = jax.vmap(one)(frames, shift[0], start[0])
    b = jax.vmap(one)(frames, shift[1], start[1])
    return a, b, shift[1] - shift[0]


def train_head(frames: np.ndarray, major: np.ndarray | None, seed: int, steps: int = 1500) -> dict:
    """The profile head; supervised on `major` (cross-entropy of the major marginal), or the pretext if None."""
    params = {"profiles": 0.1 * jax.random.normal(jax.random.key(seed), (2, 12)), "scale": jnp.array(3.0)}
    tx = optax.adam(1e-2)

    def loss(params, batch, labels, key):
        a, b, shift = _crops(batch, key)
        p_a, p_b = key_probabilities(params, a), key_probabilities(params, b)
        if major is not None:
            q = jnp.clip(p_a.sum(-1)[:, 0], 1e-6, 1 - 1e-6)
            return -jnp.mean(labels * jnp.log(q) + (1 - labels) * jnp.log(1 - q))
        return equivariance_loss(p_a, p_b, shift).mean() - mode_information(p_a.sum(-1), p_b.sum(-1))

    @jax.jit
    def step(params, opt_state, batch, labels, key):
        grads = jax.grad(loss)(params, batch, labels, key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    opt_state, rng = tx.init(params), np.random.default_rng(seed)
    labels = np.zeros(len(frames), np.float32) if major is None else major.astype(np.float32)
    for i in range(steps):
        pick = rng.choice(len(frames), 64, replace=False)
        params, opt_state = step(params, opt_state, frames[pick], labels[pick], jax.random.key(1000 * seed + i))
    return params


def mode_accuracy(params: dict, train: np.ndarray, train_major, validation: np.ndarray, validation_major) -> float:
    """Validation accuracy of 'major marginal > 0.5' as the guess, its sign set on the train split (a pretext's
    mode cluster has no name until labels give it one)."""
    q_train = np.asarray(key_probabilities(params, jnp.asarray(train.mean(1)))).sum(-1)[:, 0]
    q_val = np.asarray(key_probabilities(params, jnp.asarray(validation.mean(1)))).sum(-1)[:, 0]
    flip = np.mean((q_train > 0.5) == train_major) < 0.5
    return float(np.mean(((q_val > 0.5) != flip) == validation_major))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m studies.tonality_check", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="demo")
    p.add_argument("--data-dir", default="data/demo/tfds")
    p.add_argument("--lowest-bands", default="0,12,24,36", help="comma-separated first band of the chroma")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args(argv)
    try:
        frames = band_frames(args.dataset, args.data_dir, ("train", "validation"))
    except UsageError as err:  # no such dataset or split: one line, as every ssl-audio command says it
        p.exit(2, f"{p.prog}: error: {err}\n")
    (x_train, major_train), (x_val, major_val) = frames["train"], frames["validation"]
    print(f"train {len(x_train)} clips ({major_train.mean():.3f} major), validation {len(x_val)}", flush=True)
    for lowest in (int(b) for b in args.lowest_bands.split(",")):
        train, val = chroma(x_train, lowest), chroma(x_val, lowest)
        finder = float(np.mean(keyfinder_says_major(val.mean(1)) == major_val))
        rows = {"keyfinder": [finder]}
        for name, labels in (("supervised", major_train), ("pretext", None)):
            rows[name] = [
                mode_accuracy(train_head(train, labels, seed), train, major_train, val, major_val)
                for seed in range(args.seeds)
            ]
        summary = " ".join(
            f"{k}={np.mean(v):.3f}" + (f"+-{np.std(v, ddof=1):.3f}" if len(v) > 1 else "") for k, v in rows.items()
        )
        print(f"tonality lowest_band={lowest} mode_accuracy_val {summary}", flush=True)


if __name__ == "__main__":
    main()
