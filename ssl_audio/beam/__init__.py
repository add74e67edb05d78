"""The jobs that touch every file (`prepare`, `embed`) as Apache Beam pipelines, for catalogues past one machine.

`runner.py` turns `--runner` and `--beam-option` into Beam's PipelineOptions; `embed.py` is the embed
pipeline (decode and cut windows in workers, `RunInference` with a JAX model handler, Parquet or NPZ out);
`prepare` runs through TFDS's own Beam path (`ssl_audio/data/builder.py`). Apache Beam is the `beam` extra:
nothing here is imported unless a command is given `--runner`.
"""
