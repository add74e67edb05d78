"""Contrastive pretraining stage (SimCLR-style, NT-Xent over the global batch).

Empty for now: the training loop, encoders and checkpointing arrive with the pretraining
issue. It will read its data through `ssl_audio.data.pipeline.pretrain_loader`.
"""
