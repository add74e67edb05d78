"""BEST-RQ masked prediction with a conformer (ssl_audio/objectives/best_rq.py): no views, no negatives; the
encoder predicts a frozen random quantizer's codes of masked log-mel and chroma frames.

    ssl-audio pretrain --config configs/bestrq_conformer.py --workdir runs/bestrq --config.dataset=NAME
        full: 100k steps at batch 256 (512 crops of 5 s), width 512, 12 blocks; accelerators, bfloat16 ready
    ssl-audio pretrain --config configs/bestrq_conformer.py:demo --workdir runs/demo/bestrq
        the demo's budget: 600 steps at batch 32 (64 crops of 2 s), width 128, 4 blocks; about 10 minutes
        on 2 CPU cores (docs/benchmarks.md, step)
    ssl-audio prepare --input MUSIC --name NAME --segment-seconds 10
    ssl-audio pretrain --config configs/bestrq_conformer.py:music --workdir runs/bestrq_music --config.dataset=NAME
        your own unlabelled recordings on 2 CPU cores: the demo's settings on 10-s segments; on real music
        behind the contrastive :music recipe and level with random weights at this budget (docs/quality.md,
        "Real music")
    ssl-audio pretrain --config configs/bestrq_conformer.py:tiny --workdir /tmp/tiny
        20 steps at batch 8, seconds on 2 CPU cores: the tests' variant

What the probe reads out is `model.readout`: "embedding" (the last block, mean over time), "blocks" (every
block concatenated) or one block ("block1" ...); `ssl-audio probe --layer all` scores each on validation.
"""

from ssl_audio_configs import common


def get_config(arg: str | None = None):
    variant = common.parse_variant(arg, extra=("music",))
    c = common.base_config()
    c.objective = "best_rq"
    c.crop_seconds = 5.0
    c.model = dict(
        name="conformer",
        # 80 mel bands at 100 frames a second (MusicFM's front end at 16 kHz); the encoder subsamples to 25.
        n_fft=400,
        hop=160,
        n_mels=80,
        scale="mel",
        f_min=0.0,
        bins_per_octave=12,
        subsampling_channels=64,
        width=512,
        depth=12,
        heads=8,
        ffn_ratio=4,
        conv_kernel=15,
        readout="embedding",
    )
    c.optimizer.lr = 5e-4
    c.optimizer.weight_decay = 1e-2
    if variant in ("demo", "music"):
        c.model.subsampling_channels = 16
        c.model.width = 128
        c.model.depth = 4
        c.model.heads = 4
        c.best_rq.codebook_size = 1024
        common.make_demo(c, lr=2e-3)
    elif variant == "tiny":
        common.make_tiny(c)
        c.model.n_mels = 32
        c.model.subsampling_channels = 4
        c.model.width = 32
        c.model.depth = 2
        c.model.heads = 2
        c.model.conv_kernel = 5
        c.best_rq.codebook_size = 64
        c.best_rq.stats_batches = 2
    return c
