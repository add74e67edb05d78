#!/usr/bin/env bash
# The accelerator figures of docs/benchmarks.md in one prepared run, in two groups:
#   compute: `bench augment` (clips/s against audiomentations and pedalboard on the host's cores) and
#            `bench step` on the full and demo configs (the augmentation's share, MFU, the scan vocoder
#            against the cumulative one, a per-device batch sweep of 256, 512 and 1024 in bfloat16);
#   input:   a small embedded dataset prepared here, `bench input` with the host's cores (clips/s per
#            core, the cores that feed the bfloat16 step), and `pretrain`'s own loop on it against the
#            step alone (`bench step --end-to-end`);
#   masked:  `bench step` on the BEST-RQ conformer (full in float32 and bfloat16, and its demo variant):
#            step time, MFU and the targets' (front ends and quantizer) share of the step.
# Each part has its own time limit and its own log, so a part that fails or runs long leaves the others'
# figures. Each group stays under the device tool's 10 minutes a call.
#
#   scripts/gpu_bench.sh OUT_DIR                  # both groups, on a GPU machine with the dependencies
#                                                 # importable (scripts/gpu_wheels.sh: what a CUDA image lacks)
#   BENCH_GROUPS=input scripts/gpu_bench.sh OUT_DIR   # one group (compute, input or masked)
#   QUICK=1 scripts/gpu_bench.sh OUT_DIR          # the same parts on tiny settings: checks the script on a CPU
set -u
out=${1:?usage: scripts/gpu_bench.sh OUT_DIR}
mkdir -p "$out"
py=${PYTHON:-python3}
# The host's worker processes (audiomentations, pedalboard) import jax too: without this each would
# reserve most of the GPU's memory at its first array.
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
# audiomentations 0.43 has invalid escapes in docstrings: Python 3.12 warns once per worker process.
export PYTHONWARNINGS=ignore::SyntaxWarning

part() {  # part NAME SECONDS ARGS...: one `ssl-audio` command, its log in OUT_DIR/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date +%T), limit ${limit}s): ssl-audio $*" | tee -a "$out/all.log"
    timeout "$limit" "$py" -m ssl_audio.cli "$@" >"$out/$name.log" 2>&1
    echo "   exit $? after $SECONDS s in all" | tee -a "$out/all.log"
    tail -4 "$out/$name.log" | tee -a "$out/all.log"
}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null
    nproc
    "$py" -c "import sys, jax, flax, optax; print(sys.version.split()[0], 'jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} >"$out/device.txt" 2>&1
cat "$out/device.txt"

if [ "${QUICK:-0}" = 1 ]; then
    full=configs/simclr_logmel_cnn.py:tiny demo=configs/simclr_logmel_cnn.py:tiny mid=16 big=32
    bestrq=configs/bestrq_conformer.py:tiny bestrq_demo=configs/bestrq_conformer.py:tiny
    aug=(--batch 8 --seconds 1 --repeats 1) clips=40 e2e=2 batches=3
else
    full=configs/simclr_logmel_cnn.py demo=configs/simclr_logmel_cnn.py:demo mid=512 big=1024
    bestrq=configs/bestrq_conformer.py bestrq_demo=configs/bestrq_conformer.py:demo
    aug=(--batch 256 --repeats 3) clips=600 e2e=30 batches=20
fi
groups=${BENCH_GROUPS:-compute,input,masked}  # not GROUPS: bash keeps that name for itself
data=$out/data
if [[ $groups == *compute* ]]; then
    # Most wanted first; the limits add up to under the device tool's 10 minutes a call.
    part augment 130 bench augment "${aug[@]}"
    # augment.vocoder_phase=auto is the cumulative form off the CPU: --versus times the scan beside it.
    part step_f32 130 bench step --config "$full" --versus augment.vocoder_phase=scan
    part step_bf16 90 bench step --config "$full" --config.compute_dtype=bfloat16
    # MFU by the batch per device: the first lever named when batch 256 gave 14% in bfloat16.
    part step_bf16_mid 90 bench step --config "$full" --config.compute_dtype=bfloat16 --batch "$mid"
    part step_bf16_big 110 bench step --config "$full" --config.compute_dtype=bfloat16 --batch "$big"
    part step_demo 40 bench step --config "$demo"
fi
if [[ $groups == *input* ]]; then
    part synth 120 synth --out "$data/audio" --clips "$clips" --seconds 10 --quiet
    part prepare 120 prepare --input "$data/audio" --name gpu --data-dir "$data/tfds" --quiet
    on_data=(--config.dataset=gpu --config.data_dir="$data/tfds")
    part input 150 bench input --config "$full" --batches "$batches" "${on_data[@]}"
    part end_to_end 180 bench step --config "$full" --config.compute_dtype=bfloat16 --end-to-end "$e2e" \
        --rounds 2 "${on_data[@]}"
fi
if [[ $groups == *masked* ]]; then
    part step_bestrq_bf16 200 bench step --config "$bestrq" --config.compute_dtype=bfloat16
    part step_bestrq_f32 200 bench step --config "$bestrq"
    part step_bestrq_demo 90 bench step --config "$bestrq_demo"
fi
