#!/usr/bin/env bash
# Python 3.12 wheels of what scripts/gpu_bench.sh needs beyond a CUDA image's jax, flax, optax, numpy,
# scipy, scikit-learn and pyarrow, at the versions requirements/constraints.txt pins, for a GPU machine
# that reaches no package registry. Run where pip does reach one; copy OUT_DIR along (with the workplace's
# `device` tool: OUT_DIR=.whl, listed in .git/info/exclude and named in the call's `carry`); there:
#
#   pip install --no-index --no-deps --target /tmp/site OUT_DIR/*.whl
#   PYTHONPATH=/tmp/site:$PWD scripts/gpu_bench.sh RESULTS_DIR
#
# jax itself is not among them: jaxlib and its CUDA plugin are 200 MB, and the machine's own jax is the
# one built for its driver (docs/benchmarks.md, "step", records which version each figure ran under).
set -eu
out=${1:?usage: scripts/gpu_wheels.sh OUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
pins() {  # the pinned version of each name, from the project's constraints
    for name in "$@"; do
        grep -i -E "^${name//[-_]/[-_]}==" "$here/requirements/constraints.txt" || echo "$name"
    done
}
# The project's own needs on the bench path, then audiomentations', librosa's, grain's, soundfile's.
packages=$(pins ml_collections grain array_record portpicker soundfile cffi pycparser soxr \
    audiomentations numpy-minmax numpy-rms numpy-audio-limiter python-stretch librosa audioread pooch \
    decorator platformdirs importlib_resources pedalboard pretty_midi mido midirenderer)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
    manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64 any; do
    platforms+=(--platform "$p")
done
# shellcheck disable=SC2086  # one argument per package
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$out" $packages
ls "$out"
