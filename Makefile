# The two commands of the README: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where the demo writes; all of it is regenerated from the seed, nothing here is a user's.
DEMO_DIR  ?= data/demo
DEMO_CLIPS ?= 1000

.PHONY: demo test setup clean-demo

setup: $(STAMP)

# Reinstall when the pins or the package metadata change; otherwise reuse the environment.
$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ssl-audio synth --out $(DEMO_DIR)/audio --clips $(DEMO_CLIPS) --seed 0
	$(BIN)/ssl-audio scan $(DEMO_DIR)/audio --quiet
	$(BIN)/ssl-audio prepare --input $(DEMO_DIR)/audio --name demo --data-dir $(DEMO_DIR)/tfds
	$(BIN)/ssl-audio info --dataset demo --data-dir $(DEMO_DIR)/tfds --plot $(DEMO_DIR)/labels.png

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --durations=10

clean-demo:
	rm -rf $(DEMO_DIR)
