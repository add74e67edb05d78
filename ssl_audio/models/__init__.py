"""Encoders (chosen by name), the log-mel front end and the contrastive model around them (the model an
objective trains: ssl_audio/objectives/, `build_model(config)` there).

- registry.py: `register` / `build_encoder` — encoders by name;
- frontend.py: log-mel on the device;
- samplecnn.py, logmel_cnn.py, spectrogram_transformer.py, conformer.py: the encoders;
- contrastive.py: encoder + projection head (the model of the contrastive objectives);
- conformer.py: a frame encoder (conv subsampling, conformer blocks with rotary positions), for masked prediction;
- variables.py: a model's variables as pure dicts (params / batch statistics) and back.
"""

from ssl_audio.models import conformer, logmel_cnn, samplecnn, spectrogram_transformer  # noqa: F401  (registers them)
from ssl_audio.models.contrastive import ContrastiveModel, ProjectionHead  # noqa: F401
from ssl_audio.models.registry import ENCODERS, build_encoder, register  # noqa: F401
