"""Transfer stage: frozen linear / MLP probes and fine-tuning for genre, mood and instruments.

Empty for now: the heads and metrics arrive with the transfer issue. It will read its data
through `ssl_audio.data.pipeline.eval_clips` and `window_batches`.
"""
