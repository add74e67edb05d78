# The two commands of the README: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where the demo writes; all of it is regenerated from the seed, nothing here is a user's.
# Rerunning `make demo` reuses what is there: data is fingerprinted, pretraining resumes from its checkpoint,
# embedding skips the files it has done.
DEMO_DIR  ?= data/demo
DEMO_CLIPS ?= 1000
DEMO_RUN  ?= runs/demo

.PHONY: demo test lint format setup clean-demo

setup: $(STAMP)

# Reinstall when the pins or the package metadata change; otherwise reuse the environment.
$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev,beam,bench,dask]'
	# The probe's supervised peer (--features musicnn): its trained weights ship in its wheel; --no-deps, as its
	# own pins are TensorFlow 1's. tf-keras: Keras 2, which its tf.compat.v1.layers graph needs.
	$(BIN)/python -m pip install --quiet --no-deps -c requirements/constraints.txt musicnn tf-keras
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ssl-audio synth --out $(DEMO_DIR)/audio --clips $(DEMO_CLIPS) --seed 0
	$(BIN)/ssl-audio scan $(DEMO_DIR)/audio --quiet
	$(BIN)/ssl-audio prepare --input $(DEMO_DIR)/audio --name demo --data-dir $(DEMO_DIR)/tfds
	$(BIN)/ssl-audio info --dataset demo --data-dir $(DEMO_DIR)/tfds --plot $(DEMO_DIR)/labels.png --overwrite
	$(BIN)/ssl-audio pretrain --config configs/simclr_logmel_cnn.py:demo --workdir $(DEMO_RUN)/pretrain \
	    --config.dataset=demo --config.data_dir=$(DEMO_DIR)/tfds
	$(BIN)/ssl-audio probe --checkpoint $(DEMO_RUN)/pretrain --dataset demo --data-dir $(DEMO_DIR)/tfds \
	    --out $(DEMO_RUN)/probe --overwrite --cache-dir $(DEMO_RUN)/features
	$(BIN)/ssl-audio embed --checkpoint $(DEMO_RUN)/pretrain --input $(DEMO_DIR)/audio \
	    --output $(DEMO_RUN)/embeddings --windows
	$(BIN)/ssl-audio export-savedmodel --checkpoint $(DEMO_RUN)/pretrain --out $(DEMO_RUN)/savedmodel --overwrite

# Lint, format and import contracts first (seconds), then the suite; `make lint` alone, `make format` to fix what ruff can.
# --max-worker-restart=0: a worker that crashes fails the run at once, naming its test. pytest-xdist 3.8's
# loadgroup scheduler hangs for good after replacing a crashed worker (pytest-dev/pytest-xdist#1323,
# #1378; seen here when a Beam test aborted in a native thread), which would have held CI for 90 minutes.
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup --max-worker-restart=0 --durations=10

# lint-imports: the layer and no-cycle contracts of pyproject.toml's [tool.importlinter].
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-demo:
	rm -rf $(DEMO_DIR) $(DEMO_RUN)
