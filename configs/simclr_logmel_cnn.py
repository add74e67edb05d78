"""SimCLR with the short-chunk ResNet on log-mel (the default model).

    ssl-audio pretrain --config configs/simclr_logmel_cnn.py --workdir runs/logmel_cnn --config.dataset=NAME
        full: 100k steps at batch 256, for accelerators (docs/benchmarks.md: step times per device)
    ssl-audio pretrain --config configs/simclr_logmel_cnn.py:demo --workdir runs/demo/pretrain
        what `make demo` runs: 600 steps at batch 32, about 10 minutes on 2 CPU cores
    ssl-audio prepare --input MUSIC --name NAME
    ssl-audio pretrain --config configs/simclr_logmel_cnn.py:music --workdir runs/music --config.dataset=NAME
        your own unlabelled recordings on 2 CPU cores, about 10 minutes: chosen on real music (docs/quality.md,
        "Real music"), on a folder prepared with the default 60-s segments (10-s ones were level or behind
        on every task, three seeds each); read out with every block ("blocks", the default)
    ssl-audio pretrain --config configs/simclr_logmel_cnn.py:tiny --workdir /tmp/tiny
        20 steps at batch 8, seconds on 2 CPU cores: the tests' variant

The choices below were made on validation in the quality study (docs/quality.md, "The recipe").
"""

from ssl_audio_configs import common


def get_config(arg: str | None = None):
    variant = common.parse_variant(arg, extra=("music",))
    c = common.base_config()
    c.model = dict(
        name="logmel_cnn",
        n_fft=1024,
        hop=256,
        n_mels=84,
        # The bands: "mel" (n_mels mel bands) or "log" (n_mels bands, bins_per_octave per octave from f_min
        # Hz; needs an n_fft that resolves f_min's semitones: ssl_audio/models/frontend.py). 84 a semitone
        # apart from C2 on a 1024-point FFT: ahead of mel bands on every task on real music (the dated
        # record, real music 2026-12-06, lever R2, one seed) as on rendered audio (lever 5a, three seeds).
        scale="log",
        f_min=65.40639,
        bins_per_octave=12,
        channels=(128, 128, 128, 128, 128, 128, 256),
        embedding_size=512,
        projection=dict(hidden_size=512, output_size=128),
        # What embed, the API, HEAR, the SavedModel and the probe hand out: "blocks" (every block's map, max
        # over frequency and mean over time, then the embedding) or "embedding" alone; pretraining is the same
        # either way. Blocks: better on every probe task (docs/quality.md, lever 1b), at the cost of a wider vector.
        readout="blocks",
        # A full-resolution stem before the first stride (ssl_audio/models/logmel_cnn.py), kernel (time,
        # frequency); 0 channels: none, as it cost arousal and time for nothing (docs/quality.md, lever 5b).
        stem_channels=0,
        stem_kernel=(3, 13),
    )
    # Pitch shift and time stretch by the phase vocoder (the augment default, "waveform"): on real music
    # ahead of band views on every task (docs/archive/quality-record.md, real music 2026-12-06, lever R3).
    if variant in ("demo", "music"):
        # 2 CPU cores, about 10 minutes: a narrower network and shorter views, many small steps; the full
        # config's semitone bands.
        c.model.channels = (32, 32, 64, 64, 64, 128)
        c.model.embedding_size = 256
        c.model.projection = dict(hidden_size=256, output_size=128)
        # Pitch shift and time stretch made on those bands, not by the phase vocoder (augment/bands.py): a
        # cheaper step and no task worse by more than the seeds' spread (docs/quality.md, lever 3e).
        c.augment.pitch_stretch = "bands"
        # Shifts by any real number of semitones: whole ones only moved no task (docs/quality.md, lever 3f).
        common.make_demo(c, lr=8e-3)
    if variant == "music":
        # Real recordings: the phase vocoder's pitch shift and time stretch, ahead of band views on every
        # real-music task (docs/archive/quality-record.md, real music 2026-12-06, lever R3); the rest as the
        # demo. Ahead of masked prediction (bestrq_conformer.py:music) on real music at the same 10 minutes
        # (docs/quality.md, "Real music").
        c.augment.pitch_stretch = "waveform"
    elif variant == "tiny":
        common.make_tiny(c)
        c.model.scale, c.model.n_fft, c.model.f_min = "mel", 512, 0.0  # 32 mel bands: the tests' fastest front-end
        c.model.n_mels = 32
        c.model.channels = (8, 16, 16)
        c.model.embedding_size = 32
        c.model.projection = dict(hidden_size=32, output_size=16)
    return c
