#!/usr/bin/env bash
# The accelerator figures of docs/benchmarks.md in one prepared run: `bench step` on the full and demo
# configs (the augmentation's share of the step, MFU, the scan vocoder against the cumulative one) and
# `bench augment` (clips/s against audiomentations and pedalboard on the host's cores). Each part has
# its own time limit and its own log, so a part that fails or runs long leaves the others' figures.
#
#   scripts/gpu_bench.sh OUT_DIR            # on a GPU machine with ssl_audio's dependencies importable
#                                           # (scripts/gpu_wheels.sh fetches what a CUDA image lacks)
#   QUICK=1 scripts/gpu_bench.sh OUT_DIR    # the same parts on tiny settings: checks the script on a CPU
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
    full=configs/simclr_logmel_cnn.py:tiny demo=configs/simclr_logmel_cnn.py:tiny big=16
    aug=(--batch 8 --seconds 1 --repeats 1)
else
    full=configs/simclr_logmel_cnn.py demo=configs/simclr_logmel_cnn.py:demo big=1024
    aug=(--batch 256 --repeats 3)
fi
# Most wanted first; the limits add up to under the device tool's 10 minutes a call.
part augment 140 bench augment "${aug[@]}"
# augment.vocoder_phase=auto is the cumulative form off the CPU: --versus times the scan beside it.
part step_f32 150 bench step --config "$full" --versus augment.vocoder_phase=scan
part step_bf16 100 bench step --config "$full" --config.compute_dtype=bfloat16
# MFU at a larger batch per device: the first lever named when batch 256 gave 14% in bfloat16.
part step_bf16_big 120 bench step --config "$full" --config.compute_dtype=bfloat16 --batch "$big"
part step_demo 45 bench step --config "$demo"
