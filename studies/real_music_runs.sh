#!/bin/bash
# The real-music study's runs (docs/quality.md, "Real music"), one after another, from the repository root:
#   bash studies/real_music_runs.sh        # about 2.5 hours on 2 CPU cores
# Each run pretrains the demo's recipe with one lever changed, then scores it on the validation tasks
# (studies/real_music.py); rows are compared with `python -m studies.real_music table`.
set -eu
S=".venv/bin/ssl-audio"
R=".venv/bin/python -m studies.real_music"
D=study_real/tfds
C=configs/simclr_logmel_cnn.py:demo

prep() { $S prepare --input "$2" --name "$1" --data-dir $D --segment-seconds "$3" --quiet; }
run() {  # name dataset overrides...
  local name=$1 ds=$2; shift 2
  $S pretrain --config $C --workdir study_real/runs/$name --no-progress --config.dataset=$ds --config.data_dir=$D "$@"
  $R evaluate --features study_real/runs/$name --label $name
  $R evaluate --features random:study_real/runs/$name --label random-$name
}

$R build
prep real_seg10 study_real/unlabelled 10
prep real_seg60 study_real/unlabelled 60
mkdir -p study_real/mixed/rendered  # the real folder and the 1,000 rendered clips of `make demo`
ln -f study_real/unlabelled/* study_real/mixed/ && ln -f data/demo/audio/clips/*.wav study_real/mixed/rendered/
prep real_mixed study_real/mixed 10
$R evaluate --features mfcc --label mfcc
$R evaluate --features runs/demo/pretrain --label rendered   # `make demo`'s checkpoint

run seg10 real_seg10                                     # the demo's recipe, seeds 0, 1, 2
run seg10-s1 real_seg10 --config.seed=1
run seg10-s2 real_seg10 --config.seed=2
run seg60 real_seg60                                     # R1: 60-s segments
run vocoder real_seg10 --config.augment.pitch_stretch=waveform   # R3 (and :music, seeds 0 and 1)
run vocoder-s1 real_seg10 --config.seed=1 --config.augment.pitch_stretch=waveform
run mel real_seg10 --config.augment.pitch_stretch=waveform --config.model.scale=mel --config.model.n_fft=512 \
    --config.model.n_mels=128 --config.model.f_min=0.0  # R2
run mixed real_mixed                                     # R5
run steps1200 real_seg10 --config.total_steps=1200       # R4

# Rows of several seeds (features are cached), then the final table, test split read once.
$R evaluate --features study_real/runs/seg10,study_real/runs/seg10-s1,study_real/runs/seg10-s2 --label demo-recipe
$R evaluate --features random:study_real/runs/seg10,random:study_real/runs/seg10-s1,random:study_real/runs/seg10-s2 \
    --label random-demo-recipe
$R evaluate --features study_real/runs/vocoder,study_real/runs/vocoder-s1 --label music
$R evaluate --features random:study_real/runs/vocoder,random:study_real/runs/vocoder-s1 --label random-music
$R table --rows music --against mfcc,random-music,rendered,demo-recipe --split test
