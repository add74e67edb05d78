import numpy as np
import pytest

from ssl_audio.augment.config import all_ops, default_config
from ssl_audio.bench.augment import PedalboardChain
from tests.augment.measure import SR, harmonic_tone

pytest.importorskip("pedalboard")  # the bench extra; `make test` installs it


def test_pedalboard_reference_skips_the_ops_whose_coin_says_no():
    """`bench augment --training-p` compares against a CPU chain that, like audiomentations, skips an op
    whose coin says no: at p = 0 it is the identity, at p = 1 every clip changes."""
    clip = harmonic_tone(220.0, seconds=0.5)
    np.testing.assert_array_equal(PedalboardChain(all_ops(default_config(), p=0.0))(clip, SR), clip)
    changed = PedalboardChain(all_ops(default_config(), p=1.0))(clip, SR)
    assert changed.shape == clip.shape and changed.dtype == np.float32 and not np.allclose(changed, clip)


def test_the_fft_floor_is_the_chains_own_list_of_transforms():
    """`bench augment`'s floor times the FFTs the chain computes, read off the chain itself: an op turned off
    takes its transforms with it, a costly op at p = 0.5 has them on its share of each stratum only, and the
    floor computes each listed transform at its listed size."""
    import jax

    from ssl_audio.augment.chain import subset_size
    from ssl_audio.augment.ops import N_FFT, _fft_size
    from ssl_audio.bench.augment import chain_ffts, fft_floor

    batch, samples = 16, SR
    every = all_ops(default_config())
    ffts = chain_ffts(every, batch, samples)
    lengths = sorted(n for _, _, _, (n,) in ffts)
    eq_size = _fft_size(samples + SR // 2)
    assert lengths.count(N_FFT) == 2 and lengths.count(eq_size) == 2  # STFT and iSTFT; EQ's rFFT pair
    no_eq = all_ops(default_config())
    no_eq.eq.p = 0.0
    assert sorted(n for _, _, _, (n,) in chain_ffts(no_eq, batch, samples)) == [n for n in lengths if n != eq_size]
    half = all_ops(default_config())
    half.eq.p = 0.5
    eq_rows = {shape[0] for shape, _, _, (n,) in chain_ffts(half, batch, samples) if n == eq_size}
    assert eq_rows == {subset_size(0.5, batch)}
    outputs = jax.block_until_ready(fft_floor(ffts)())
    assert len(outputs) == len(ffts)
    for out, (shape, _, _, (n,)) in zip(outputs, ffts):
        assert out.shape[:-1] == shape[:-1] and out.shape[-1] in (n, n // 2 + 1)


def test_more_devices_than_there_are_is_a_one_line_error_naming_the_flag():
    import jax

    from ssl_audio.bench.augment import run
    from ssl_audio.errors import BadValueError

    with pytest.raises(BadValueError, match=r"--devices \d+: only \d+ device"):
        next(run(batch=16, devices=len(jax.devices()) + 1))
