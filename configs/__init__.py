"""Pretraining configs, big_vision style: each file's `get_config(arg)` returns an ml_collections.ConfigDict.

    ssl-audio pretrain --config configs/simclr_logmel_cnn.py:tiny --workdir W --config.batch_size=64

`arg` picks a variant: "" (the full run, for accelerators), "demo" (the `make demo` budget: about 10 minutes
on 2 CPU cores) or "tiny" (about a minute on 2 CPU cores; used by the tests).
"""
