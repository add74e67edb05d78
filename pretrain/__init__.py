"""Contrastive pretraining: `ssl-audio pretrain --config configs/<name>.py --workdir W`.

- config.py: load a config file with overrides, validate it;
- optimizer.py: AdamW / LARS with warmup + cosine decay and clipping;
- state.py: the train state (one pytree) and its shardings;
- step.py: one training step — augment both views, encode, NT-Xent, update;
- checkpointing.py: Orbax checkpoints of the state and the data iterator, resume;
- metrics_log.py: JSONL, TensorBoard, progress bar, loss-curve PNG;
- train.py: the loop that ties them together;
- bench.py: `ssl-audio bench step`.
"""
