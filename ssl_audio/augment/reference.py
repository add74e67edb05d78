"""The CPU reference path: the same chain, from the same config block, with audiomentations.

Used in data-loader workers when `augment.backend = "audiomentations"`, and by the
benchmark and tests as the yardstick for the JAX path. Differences that the
library imposes: its reverb is fully wet (no wet/dry mix) and needs IR files (we
write synthetic rooms when the config names no folder); its shift is zero-filled
like ours (rollover off); its compressor is a limiter (no ratio, no make-up gain);
its clipping is hard only; its bit crush has no dither.
"""

from __future__ import annotations

import os
import random
import tempfile

import grain
import ml_collections
import numpy as np

from ssl_audio.augment.config import NOISE_DECAY_DB, validate
from ssl_audio.augment.impulse_responses import write_synthetic_irs


def ir_folder(config: ml_collections.ConfigDict) -> str:
    if config.reverb.ir_dir:
        return str(config.reverb.ir_dir)
    r = config.reverb
    folder = os.path.join(
        tempfile.gettempdir(),
        "ssl_audio_irs",
        f"sr{config.sample_rate}_rt{r.min_rt60:g}-{r.max_rt60:g}_pd{r.max_pre_delay_ms:g}",
    )
    write_synthetic_irs(
        folder,
        min_rt60=r.min_rt60,
        max_rt60=r.max_rt60,
        max_pre_delay_s=r.max_pre_delay_ms / 1000,
        sample_rate=config.sample_rate,
    )
    return folder


def build_compose(config: ml_collections.ConfigDict):
    import audiomentations as A  # heavy import; only the reference path needs it

    validate(config)
    c = config
    lo, hi = NOISE_DECAY_DB[c.noise.color]
    noise = (
        A.AddGaussianSNR(min_snr_db=c.noise.min_snr_db, max_snr_db=c.noise.max_snr_db, p=c.noise.p)
        if c.noise.color == "white"
        else A.AddColorNoise(
            min_snr_db=c.noise.min_snr_db, max_snr_db=c.noise.max_snr_db, min_f_decay=lo, max_f_decay=hi, p=c.noise.p
        )
    )
    return A.Compose(
        [
            A.Shift(
                min_shift=-c.time_shift.max_fraction,
                max_shift=c.time_shift.max_fraction,
                shift_unit="fraction",
                rollover=False,
                p=c.time_shift.p,
            ),
            A.PitchShift(
                min_semitones=c.pitch_shift.min_semitones, max_semitones=c.pitch_shift.max_semitones, p=c.pitch_shift.p
            ),
            A.TimeStretch(
                min_rate=c.time_stretch.min_rate,
                max_rate=c.time_stretch.max_rate,
                leave_length_unchanged=False,  # the views are cut after the chain (chain.input_samples)
                p=c.time_stretch.p,
            ),
            A.SevenBandParametricEQ(min_gain_db=c.eq.min_gain_db, max_gain_db=c.eq.max_gain_db, p=c.eq.p),
            A.ApplyImpulseResponse(ir_path=ir_folder(c), p=c.reverb.p, leave_length_unchanged=True),
            # A limiter: the compression op's ratio range has no counterpart here (ratio infinite), nor
            # its make-up gain; threshold and attack/release mean the same (config.py).
            A.Limiter(
                min_threshold_db=c.compression.min_threshold_db,
                max_threshold_db=c.compression.max_threshold_db,
                min_attack=c.compression.min_attack,
                max_attack=c.compression.max_attack,
                min_release=c.compression.min_release,
                max_release=c.compression.max_release,
                threshold_mode="relative_to_signal_peak",
                p=c.compression.p,
            ),
            A.Gain(min_gain_db=c.gain.min_gain_db, max_gain_db=c.gain.max_gain_db, p=c.gain.p),
            A.PolarityInversion(p=c.polarity.p),
            # Hard clipping only (no soft saturation), int(percent / 2) % on each side: an even percent.
            A.ClippingDistortion(
                min_percentile_threshold=int(round(c.clipping.min_percent)),
                max_percentile_threshold=int(round(c.clipping.max_percent)),
                p=c.clipping.p,
            ),
            # Causal Butterworth of the same order: the same magnitude (-3 dB at the cutoff), not zero phase.
            A.LowPassFilter(
                min_cutoff_freq=c.lowpass.min_cutoff_hz,
                max_cutoff_freq=c.lowpass.max_cutoff_hz,
                min_rolloff=6 * c.lowpass.order,
                max_rolloff=6 * c.lowpass.order,
                zero_phase=False,
                p=c.lowpass.p,
            ),
            A.BitCrush(min_bit_depth=c.bit_crush.min_bits, max_bit_depth=c.bit_crush.max_bits, p=c.bit_crush.p),
            noise,
        ]
    )


class AudiomentationsViews(grain.transforms.RandomMap):
    """Augments both views of a pretraining pair in the loader's workers (the CPU path).

    audiomentations draws from the global `random` and `numpy.random` state, so each element seeds
    them from grain's per-record generator: the result is deterministic and resumable.
    """

    def __init__(self, config: ml_collections.ConfigDict, view_samples: int | None = None):
        self.config_dict = config.to_dict()
        self.view_samples = view_samples  # cut after the chain, as the JAX path does; None: the input's length
        self._compose = None

    def random_map(self, element: dict, rng: np.random.Generator) -> dict:
        if self._compose is None:
            self._compose = build_compose(ml_collections.ConfigDict(self.config_dict))
        sr = self.config_dict["sample_rate"]
        out = dict(element)
        for view in ("view_a", "view_b"):
            seed = int(rng.integers(2**31))
            random.seed(seed)
            np.random.seed(seed)
            length = self.view_samples or element[view].shape[0]
            y = self._compose(samples=element[view], sample_rate=sr).astype(np.float32)[:length]
            out[view] = np.pad(y, (0, length - y.shape[0]))  # only a stretch past the input's end is short
        return out
