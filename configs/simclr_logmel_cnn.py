"""SimCLR with the short-chunk ResNet on log-mel (the default model).

ssl-audio pretrain --config configs/simclr_logmel_cnn.py --workdir runs/logmel_cnn
"""

from configs import common


def get_config(arg: str | None = None):
    variant = common.parse_variant(arg)
    c = common.base_config()
    c.model = dict(
        name="logmel_cnn",
        n_fft=512,
        hop=256,
        n_mels=128,
        channels=(128, 128, 128, 128, 128, 128, 256),
        embedding_size=512,
        projection=dict(hidden_size=512, output_size=128),
        # What embed, the API, HEAR, the SavedModel and the probe hand out: "embedding", or "blocks" (every
        # block's map pooled, with the embedding; docs/quality.md). Pretraining is the same either way.
        readout="embedding",
    )
    if variant == "demo":
        # 2 CPU cores, about 10 minutes: a narrower network and shorter views, many small steps.
        c.model.n_mels = 64
        c.model.channels = (32, 32, 64, 64, 64, 128)
        c.model.embedding_size = 256
        c.model.projection = dict(hidden_size=256, output_size=128)
        common.make_demo(c, lr=8e-3)
    elif variant == "tiny":
        common.make_tiny(c)
        c.model.n_mels = 32
        c.model.channels = (8, 16, 16)
        c.model.embedding_size = 32
        c.model.projection = dict(hidden_size=32, output_size=16)
    return c
