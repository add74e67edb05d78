"""SimCLR with the short-chunk ResNet on log-mel (the default model).

ssl-audio pretrain --config configs/simclr_logmel_cnn.py --workdir runs/logmel_cnn
"""

from ssl_audio_configs import common


def get_config(arg: str | None = None):
    variant = common.parse_variant(arg)
    c = common.base_config()
    c.model = dict(
        name="logmel_cnn",
        n_fft=512,
        hop=256,
        n_mels=128,
        # The bands: "mel" (n_mels mel bands) or "log" (n_mels bands, bins_per_octave per octave from f_min
        # Hz; needs an n_fft that resolves f_min's semitones: ssl_audio/models/frontend.py).
        scale="mel",
        f_min=0.0,
        bins_per_octave=12,
        channels=(128, 128, 128, 128, 128, 128, 256),
        embedding_size=512,
        projection=dict(hidden_size=512, output_size=128),
        # What embed, the API, HEAR, the SavedModel and the probe hand out: "blocks" (every block's map, max
        # over frequency and mean over time, then the embedding) or "embedding" alone. Pretraining is the
        # same either way. "blocks" because on the demo's validation split it beat the embedding on every
        # task by more than one standard error (genre 0.869 vs 0.784, instruments 0.936 vs 0.879, arousal
        # R2 0.942 vs 0.768; docs/quality.md, lever 1b), and because real-music evidence points the same way
        # (Pons & Serra 2018; BYOL-A v2 concatenates its conv features with its MLP output). The cost is a
        # wider vector: 1536-d here, 640-d for :demo.
        readout="blocks",
        # A full-resolution stem before the first stride (ssl_audio/models/logmel_cnn.py): 0 channels is
        # none. Kernel (time, frequency); 13 semitone bands span an octave, a chord's whole shape. Off: on
        # the demo (16 channels, two seeds) arousal R2 fell to 0.907 from 0.948, mood did not move, and the
        # step cost 1.70x (docs/quality.md, lever 5b).
        stem_channels=0,
        stem_kernel=(3, 13),
    )
    if variant == "demo":
        # 2 CPU cores, about 10 minutes: a narrower network and shorter views, many small steps.
        # Bands a semitone apart (84 from C2, 65.4 Hz, to 7.9 kHz) on a 1024-point FFT, not 64 mel bands on
        # 512: on the demo's validation split, three pretraining seeds each, genre 0.922 +- 0.011 against
        # 0.880 +- 0.016, instruments 0.946 +- 0.006 against 0.933 +- 0.007, mood and arousal unchanged
        # (docs/quality.md, lever 5a). A 2048-point FFT resolved the low semitones better but cost arousal (0.926): its
        # 128-ms window blurs the onsets that tempo and density are read from. 1.18x the step's cost.
        # The full config keeps mel bands: this was measured on rendered audio only.
        c.model.scale = "log"
        c.model.n_fft = 1024
        c.model.f_min = 65.40639
        c.model.n_mels = 84
        c.model.channels = (32, 32, 64, 64, 64, 128)
        c.model.embedding_size = 256
        c.model.projection = dict(hidden_size=256, output_size=128)
        # Pitch shift and time stretch made on those bands, not by the phase vocoder (augment/bands.py): the
        # same ranges and coins; the step 1.2-1.5x faster (the vocoder was ~88% of the chain). Three seeds on
        # validation: genre 0.952 +- 0.023 against 0.922 +- 0.011, instruments 0.939 +- 0.012 against 0.946 +-
        # 0.006, mood 0.599 against 0.597, arousal 0.942 against 0.948 (docs/quality.md, lever 3e): no task
        # worse by more than the seeds' spread, and the demo back under 20 minutes on the slow machines.
        c.augment.pitch_stretch = "bands"
        # Shifts by any real number of semitones, not whole ones only (augment.pitch_shift.whole_semitones):
        # views that are exact transpositions did not move valence (-0.033 against -0.037) and no task by
        # more than the seeds' spread (two seeds; docs/quality.md, lever 3f).
        common.make_demo(c, lr=8e-3)
    elif variant == "tiny":
        common.make_tiny(c)
        c.model.n_mels = 32
        c.model.channels = (8, 16, 16)
        c.model.embedding_size = 32
        c.model.projection = dict(hidden_size=32, output_size=16)
    return c
