import librosa
import numpy as np

from ssl_audio.audio.descriptors import clip_descriptors


def _tone(freq: float, seconds: float = 2.0, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_the_shared_stft_gives_librosas_own_mfccs():
    """The MFCCs come from the STFT the chroma and contrast use; they must equal librosa's mfcc(y=...)."""
    audio = _tone(440.0) + 0.05 * np.random.default_rng(0).standard_normal(32_000).astype(np.float32)
    d = clip_descriptors(audio, 16_000)
    assert d.shape == (118,) and d.dtype == np.float32
    mfcc = librosa.feature.mfcc(y=audio, sr=16_000, n_mfcc=20)
    np.testing.assert_allclose(d[:20], mfcc.mean(axis=1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(d[59 : 59 + 20], mfcc.std(axis=1), rtol=1e-4, atol=1e-3)


def test_chroma_names_the_pitch_class():
    # Means: 20 MFCC, 20 deltas, then 12 chroma starting at C; A is the 10th pitch class.
    for freq, pitch_class in ((440.0, 9), (261.63, 0)):
        chroma = clip_descriptors(_tone(freq), 16_000)[40:52]
        assert int(np.argmax(chroma)) == pitch_class
