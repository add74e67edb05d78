"""Embeddings for downstream teams.

- `model`: `load_model(CKPT)` -> `EmbeddingModel.embed(audio, sample_rate)` (the Python API).
- `store`: output files (Parquet parts with a crash-safe journal, or one .npz per input file).
- `export`: `ssl-audio embed`, the resumable folder-to-files job.
- `savedmodel`: `ssl-audio export-savedmodel`, the encoder as a TensorFlow SavedModel (jax2tf).
- `bench`: `ssl-audio bench embed`, our embeddings against classical descriptors, in x real time.
The HEAR API lives in `ssl_audio.hear`.
"""
