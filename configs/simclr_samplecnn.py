"""SimCLR with SampleCNN on the raw waveform, as CLMR.

    ssl-audio pretrain --config configs/simclr_samplecnn.py --workdir runs/samplecnn --config.dataset=NAME
        full: 100k steps at batch 256, for accelerators; :demo is 600 steps at batch 32 on 2 CPU cores
        (about 10 minutes), :tiny 20 steps at batch 8 (seconds; the tests')

CLMR's input is 59049 samples (3^10) at 22.05 kHz; at 16 kHz the same 3^10 samples are 3.69 s.
"""

from ssl_audio_configs import common


def get_config(arg: str | None = None):
    variant = common.parse_variant(arg)
    c = common.base_config()
    c.crop_seconds = 59049 / 16_000
    c.model = dict(
        name="samplecnn",
        channels=(128, 128, 128, 256, 256, 256, 256, 256, 256, 512),
        projection=dict(hidden_size=512, output_size=128),
    )
    if variant == "demo":
        c.model.channels = (32, 32, 32, 64, 64, 64, 64, 64, 128)
        c.model.projection = dict(hidden_size=128, output_size=64)
        common.make_demo(c, lr=8e-3)
    elif variant == "tiny":
        common.make_tiny(c)
        c.model.channels = (8, 8, 16, 16, 16)
        c.model.projection = dict(hidden_size=16, output_size=16)
    return c
