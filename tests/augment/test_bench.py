import numpy as np
import pytest

from ssl_audio.augment.bench import PedalboardChain
from ssl_audio.augment.config import all_ops, default_config
from tests.augment.measure import SR, harmonic_tone

pytest.importorskip("pedalboard")  # the bench extra; `make test` installs it


def test_pedalboard_reference_skips_the_ops_whose_coin_says_no():
    """`bench augment --training-p` compares against a CPU chain that, like audiomentations, skips an op
    whose coin says no: at p = 0 it is the identity, at p = 1 every clip changes."""
    clip = harmonic_tone(220.0, seconds=0.5)
    np.testing.assert_array_equal(PedalboardChain(all_ops(default_config(), p=0.0))(clip, SR), clip)
    changed = PedalboardChain(all_ops(default_config(), p=1.0))(clip, SR)
    assert changed.shape == clip.shape and changed.dtype == np.float32 and not np.allclose(changed, clip)
