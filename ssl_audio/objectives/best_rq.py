"""BEST-RQ masked prediction (Chiu et al. 2022), as MusicFM trains it on music: spans of the log-mel input are
replaced by noise, and the encoder predicts, at the masked frames only, the codes a frozen random quantizer
(quantizer.py) gives the clean input there. Two codebooks: one on the log-mel frames (the spectral
envelope), one on chroma from semitone bands (pitch class), so that key and harmony are targets too.

    crops [N, T] (both loader crops of each clip: 2N examples) --front end--> log-mel [2N, frames, mels]
    targets   = codes of the clean log-mel and chroma, one per encoder frame (4 input frames each)
    input     = the log-mel with masked spans replaced by N(0, noise_std)
    loss      = mean over codebooks of the cross-entropy at masked frames (one softmax head per codebook)

Augmentation is off by default (`best_rq.augment`): the targets are the input's own. Every random draw comes
from `fold_in(state.rng, state.step)`, so a resumed run masks exactly as an uninterrupted one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from ssl_audio.augment.chain import make_chain
from ssl_audio.augment.views import view_samples
from ssl_audio.models.conformer import SUBSAMPLING
from ssl_audio.models.frontend import log_mel
from ssl_audio.models.registry import build_encoder, dtype_of
from ssl_audio.models.variables import other_variables
from ssl_audio.objectives import quantizer as Q
from ssl_audio.objectives.base import Objective

CODEBOOKS = ("logmel", "chroma")
# Chroma's semitone bands: 6 octaves from C2 (65.4 Hz) on a 2048-point FFT, fine enough at 16 kHz
# (7.8 Hz a bin) to tell semitones apart from the second octave up; folded into 12 pitch classes.
CHROMA = dict(n_fft=2048, f_min=65.406, octaves=6)


def default_config() -> ml_collections.ConfigDict:
    """The `best_rq` block of a pretraining config (configs/common.py), each key declared here once."""
    c = ml_collections.ConfigDict()
    c.mask_rate = 0.5  # share of the encoder's frames masked, on average
    c.span_seconds = 0.4  # each masked span (MusicFM: 400 ms); spans start with the probability that gives the rate
    c.noise_std = 0.1  # masked input frames become N(0, noise_std) in the encoder's scaled log-mel
    c.codebooks = ("logmel", "chroma")  # what is quantized: the log-mel frames, pitch classes (CODEBOOKS)
    c.codebook_size = 4096  # entries per codebook (BEST-RQ, MusicFM: 8192 on accelerators)
    c.codebook_dim = 16  # the random projection's width
    c.stats_batches = 8  # loader batches measured for the features' mean and std before step 0
    c.augment = False  # the waveform chain on the input too (the targets follow it); masking is the task
    return c


def validate(c: ml_collections.ConfigDict) -> None:
    """The block's values, one line naming the key (read with objective best_rq only)."""
    from ssl_audio.errors import BadValueError

    b = c.best_rq
    checks = [
        (0 < b.mask_rate < 1, "mask_rate", f"must be between 0 and 1, got {b.mask_rate}"),
        (b.span_seconds > 0, "span_seconds", f"must be positive, got {b.span_seconds}"),
        (b.noise_std >= 0, "noise_std", f"must be 0 or more, got {b.noise_std}"),
        (len(b.codebooks) > 0 and set(b.codebooks) <= set(CODEBOOKS), "codebooks", f"one or more of {CODEBOOKS}"),
        (len(set(b.codebooks)) == len(b.codebooks), "codebooks", "each at most once"),
        (b.codebook_size >= 2, "codebook_size", f"must be at least 2, got {b.codebook_size}"),
        (b.codebook_dim >= 1, "codebook_dim", f"must be at least 1, got {b.codebook_dim}"),
        (b.stats_batches >= 1, "stats_batches", f"must be at least 1, got {b.stats_batches}"),
    ]
    for ok, key, why in checks:
        if not ok:
            raise BadValueError(
                f"config.best_rq.{key}: {why}, got {b[key]!r}" if "got" not in why else f"config.best_rq.{key}: {why}"
            )


class MaskedPredictionModel(nnx.Module):
    """A frame encoder (one with `spectrogram`, `input_frames` and `encode_frames`: the conformer) and one
    linear softmax head per codebook over its last block's frames."""

    def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
        dtype = dtype_of(config.compute_dtype)
        self.encoder = build_encoder(
            config.model,
            sample_rate=config.sample_rate,
            input_samples=view_samples(config),
            dtype=dtype,
            rngs=rngs,
        )
        if not hasattr(self.encoder, "encode_frames"):
            raise ValueError(
                f"objective best_rq needs an encoder that outputs frames (conformer), not {config.model.name}"
            )
        size = int(config.best_rq.codebook_size)
        self.heads = nnx.Dict(
            {name: nnx.Linear(self.encoder.width, size, dtype=dtype, rngs=rngs) for name in config.best_rq.codebooks}
        )
        self.embedding_size = self.encoder.embedding_size


def chroma(audio: jax.Array, sample_rate: int, hop: int) -> jax.Array:
    """[B, T] -> [B, frames, 12] log power per pitch class (C first), the same frames as the log-mel's."""
    bands = log_mel(
        audio,
        sample_rate=sample_rate,
        n_fft=CHROMA["n_fft"],
        hop=hop,
        n_mels=12 * CHROMA["octaves"],
        f_min=CHROMA["f_min"],
        scale="log",
        bins_per_octave=12,
    )
    octaves = bands.reshape(*bands.shape[:2], CHROMA["octaves"], 12)
    return jax.nn.logsumexp(octaves, axis=2)  # power summed over octaves, in the log domain


def target_features(encoder, audio: jax.Array) -> dict[str, jax.Array]:
    """What each codebook quantizes, per input frame: the log-mel and the chroma."""
    bands = encoder.spectrogram(audio)
    return {"logmel": bands, "chroma": chroma(audio, encoder.frontend["sample_rate"], encoder.frontend["hop"])}


def examples(batch: dict, samples: int):
    """A loader batch as BEST-RQ's examples: both crops of each clip, each cut to the view's length (2N)."""
    xp = np if isinstance(batch["view_a"], np.ndarray) else jnp
    return xp.concatenate([batch["view_a"], batch["view_b"]])[:, :samples]


def codes_of(encoder, quantizers: dict, audio: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
    """The targets: each codebook's codes of `audio`, one per encoder frame; and the clean log-mel."""
    features = target_features(encoder, audio)
    return {name: Q.codes(q, features[name], SUBSAMPLING) for name, q in quantizers.items()}, features["logmel"]


def span_mask(key: jax.Array, shape: tuple[int, int], rate: float, span: int) -> jax.Array:
    """[B, T] bool: spans of `span` frames, each frame starting one with probability p chosen so that a share
    `rate` of the frames is masked on average (1 - (1 - p)^span = rate; overlapping spans merge)."""
    p = 1.0 - (1.0 - rate) ** (1.0 / span)
    # Starts drawn for span - 1 positions before the first frame too, so the first frames are masked at the
    # same rate as the rest; a frame is masked if a span started at it or in the span - 1 positions before.
    starts = jax.random.bernoulli(key, p, (shape[0], shape[1] + span - 1))
    windows = jnp.stack([starts[:, i : i + shape[1]] for i in range(span)], axis=0)
    return jnp.any(windows, axis=0)


def span_frames(config: ml_collections.ConfigDict) -> int:
    """The mask span in encoder frames (best_rq.span_seconds at hop * 4 samples a frame)."""
    frame_seconds = config.model.hop * SUBSAMPLING / config.sample_rate
    return max(1, int(round(config.best_rq.span_seconds / frame_seconds)))


def masked_prediction_loss(
    logits: dict[str, jax.Array], targets: dict[str, jax.Array], mask: jax.Array, size: int
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean over codebooks of the cross-entropy at the masked frames only (an unmasked frame's prediction
    costs nothing: it can see its input). logits [B, T, size] and targets [B, T] per codebook, mask [B, T].
    Metrics: each codebook's accuracy at masked frames and its codes' perplexity, the share masked."""
    dtype = jnp.promote_types(next(iter(logits.values())).dtype, jnp.float32)  # float32 at least (float64 checks)
    weight = mask.astype(dtype)
    count = jnp.maximum(weight.sum(), 1.0)
    total, metrics = 0.0, {}
    for name, target in targets.items():
        scores = logits[name].astype(dtype)
        ce = optax.softmax_cross_entropy_with_integer_labels(scores, target)
        total = total + (ce * weight).sum() / count
        right = (jnp.argmax(scores, -1) == target).astype(dtype)
        metrics[f"masked_accuracy_{name}"] = (right * weight).sum() / count
        metrics[f"code_perplexity_{name}"] = Q.code_perplexity(target, size)
    metrics["masked_share"] = weight.mean()
    return total / len(targets), metrics


class BestRQ(Objective):
    name = "best_rq"

    def build_model(self, config, *, seed=0):
        return MaskedPredictionModel(config, rngs=nnx.Rngs(params=seed))

    def extra_state(self, config, params):
        """The frozen quantizers, from the seed (a key of their own: the parameters' draws are untouched)."""
        key = jax.random.fold_in(jax.random.key(int(config.seed)), 0x5154)  # "QT"
        features = {"logmel": int(config.model.n_mels), "chroma": 12}
        return {
            "quantizer": {
                name: Q.make_quantizer(
                    jax.random.fold_in(key, i),
                    features[name],
                    SUBSAMPLING,
                    int(config.best_rq.codebook_dim),
                    int(config.best_rq.codebook_size),
                )
                for i, name in enumerate(config.best_rq.codebooks)
            }
        }

    def data_statistics(self, config, batches):
        """{"quantizer": {codebook: {"mean", "std"}}} of each codebook's features over `best_rq.stats_batches`
        loader batches of this process, pooled over every process (one quantizer for the whole run)."""
        from jax.experimental import multihost_utils

        model = self.build_model(config, seed=int(config.seed))
        measure = jax.jit(lambda audio: target_features(model.encoder, audio))
        moments = {name: np.zeros((3, 0)) for name in config.best_rq.codebooks}  # count, sum, sum of squares
        for _, batch in zip(range(int(config.best_rq.stats_batches)), batches):
            audio = examples(batch, view_samples(config))
            for name, frames in measure(jnp.asarray(audio, jnp.float32)).items():
                if name in moments:
                    flat = np.asarray(frames, np.float64).reshape(-1, frames.shape[-1])
                    step = np.stack([np.full(flat.shape[1], len(flat)), flat.sum(0), (flat**2).sum(0)])
                    moments[name] = step if moments[name].size == 0 else moments[name] + step
        out = {}
        for name, m in moments.items():
            if jax.process_count() > 1:
                m = np.asarray(multihost_utils.process_allgather(m)).sum(axis=0)
            mean = m[1] / m[0]
            std = np.sqrt(np.maximum(m[2] / m[0] - mean**2, 0.0))
            out[name] = {"mean": mean.astype(np.float32), "std": np.maximum(std, 1e-3).astype(np.float32)}
        return {"quantizer": out}

    def loss_and_grads(self, config, graphdef, mesh=None, loss=None):
        if loss is not None:
            raise ValueError("best_rq's loss is its own; a replacement loss is for nt_xent and dcl")
        k, rate, span = SUBSAMPLING, float(config.best_rq.mask_rate), span_frames(config)
        noise_std, size = float(config.best_rq.noise_std), int(config.best_rq.codebook_size)
        samples = view_samples(config)
        chain = make_chain(config.augment, samples, mesh=mesh) if config.best_rq.augment else None

        def loss_and_grads(state, batch):
            key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
            mask_key, noise_key, chain_key = jax.random.split(key, 3)
            both = jnp.concatenate([batch["view_a"], batch["view_b"]])  # the chain cuts to the view's length
            audio = chain(both, chain_key) if chain is not None else examples(batch, samples)
            encoder = nnx.merge(graphdef, state["params"], state["batch_stats"]).encoder
            targets, bands = codes_of(encoder, state["quantizer"], audio)  # [2N, T'] each; the clean log-mel
            out_frames = -(-bands.shape[1] // k)
            mask = span_mask(mask_key, (bands.shape[0], out_frames), rate, span)  # [2N, T']
            x = encoder.input_frames(bands)
            masked_in = jnp.repeat(mask, k, axis=1)[:, : bands.shape[1], None]
            x = jnp.where(masked_in, noise_std * jax.random.normal(noise_key, x.shape, x.dtype), x)

            def loss_fn(params):
                model = nnx.merge(graphdef, params, state["batch_stats"])
                frames, _ = model.encoder.encode_frames(x)
                logits = {name: model.heads[name](frames) for name in targets}
                value, metrics = masked_prediction_loss(logits, targets, mask, size)
                return value, (metrics, other_variables(model))

            (value, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
            return value, metrics, grads, batch_stats

        return loss_and_grads
