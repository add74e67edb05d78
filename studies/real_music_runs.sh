#!/bin/bash
# The real-music study's runs (docs/quality.md, "Real music"), one after another, from the repository root:
#   bash studies/real_music_runs.sh        # about 3 hours on 2 CPU cores
# Each run pretrains a recipe on the real folder (10-s segments unless said), then its features are scored on
# the validation tasks with every block read out (studies/real_music.py); rows are compared with `table`.
set -eu
S=".venv/bin/ssl-audio"
R=".venv/bin/python -m studies.real_music"
O=study_real
D=$O/tfds
CNN=configs/simclr_logmel_cnn.py:music
MASKED=configs/bestrq_conformer.py:music

prep() { $S prepare --input $O/unlabelled --name "$1" --data-dir $D --segment-seconds "$2" --quiet; }
run() {  # name config dataset overrides...
  local name=$1 config=$2 ds=$3; shift 3
  $S pretrain --config "$config" --workdir $O/runs/$name --no-progress --config.dataset=$ds --config.data_dir=$D "$@"
  $R evaluate --out $O --features $O/runs/$name --label $name
}

$R build --out $O
prep real_seg10 10
prep real_seg60 60
$R evaluate --out $O --features mfcc --label mfcc
$R evaluate --out $O --features musicnn --label musicnn   # the supervised peer (make setup installs it)

# 10 minutes of pretraining (600 steps) on 2 cores, three seeds of each objective
for seed in 0 1 2; do
  run music-s$seed $CNN real_seg10 --config.seed=$seed
  run bestrq-s$seed $MASKED real_seg10 --config.seed=$seed
done
$R evaluate --out $O --features random:$O/runs/music-s0 --label random-music-s0
$R evaluate --out $O --features random:$O/runs/bestrq-s0 --label random-bestrq-s0

# Levers on the winner (contrastive), seed 0 unless said: 60-s segments (prepare's default), 40 minutes
for seed in 0 1 2; do run music-seg60-s$seed $CNN real_seg60 --config.seed=$seed; done
run music-steps2400 $CNN real_seg10 --config.total_steps=2400

# Rows of several seeds (features are cached), the layer curves, then the final table: test split, read once
$R evaluate --out $O --features $O/runs/music-s0,$O/runs/music-s1,$O/runs/music-s2 --label music
$R evaluate --out $O --features $O/runs/bestrq-s0,$O/runs/bestrq-s1,$O/runs/bestrq-s2 --label bestrq
$R evaluate --out $O --features $O/runs/music-seg60-s0,$O/runs/music-seg60-s1,$O/runs/music-seg60-s2 --label seg60
$R evaluate --out $O --features random:$O/runs/music-s0,random:$O/runs/music-s1,random:$O/runs/music-s2 \
    --label random-music
$R curves --out $O --rows music,bestrq,random-music,mfcc,musicnn --png docs/figures/real_music_layers.png
$R table --out $O --rows seg60,music,bestrq --against mfcc,random-music,musicnn --split test

