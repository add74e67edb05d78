"""SimCLR with a spectrogram transformer (16x16 log-mel patches, as AST/ViT-S).

ssl-audio pretrain --config configs/simclr_transformer.py --workdir runs/transformer
"""

from ssl_audio_configs import common


def get_config(arg: str | None = None):
    variant = common.parse_variant(arg)
    c = common.base_config()
    c.model = dict(
        name="spectrogram_transformer",
        n_fft=512,
        hop=160,
        n_mels=128,
        patch=(16, 16),
        width=384,
        depth=6,
        heads=6,
        mlp_ratio=4,
        projection=dict(hidden_size=512, output_size=128),
    )
    c.optimizer.weight_decay = 0.05  # transformers want real weight decay (ViT / AST practice)
    if variant == "demo":
        c.model.update(n_mels=64, width=128, depth=3, heads=4)
        c.model.projection = dict(hidden_size=256, output_size=128)
        common.make_demo(c, lr=4e-3)
    elif variant == "tiny":
        common.make_tiny(c)
        c.model.update(n_mels=32, patch=(8, 8), width=32, depth=2, heads=2, mlp_ratio=2)
        c.model.projection = dict(hidden_size=32, output_size=16)
    return c
