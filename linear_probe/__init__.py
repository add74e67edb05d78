"""Transfer: `ssl-audio probe` — heads on frozen features of a pretrained encoder, beside MFCC and
random-init baselines.

- features.py: per-clip features (pooled encoder windows; MFCC descriptors) and their cache;
- heads.py: linear and MLP heads (Flax NNX);
- fit.py: training with learning-rate / weight-decay search and early stopping on validation;
- metrics.py: scikit-learn scores per kind of label;
- report.py: results.json, report.md, confusion matrices, PR curves;
- finetune.py: encoder and head trained together, checkpointed like pretraining;
- run.py: the command.
"""
