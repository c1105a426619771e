# Two commands do all the set-up: `make run` and `make test`. Each builds .venv from nothing when
# needed and installs only what it needs — `run` the scanner, `test` the dev tools and the training
# stack too (the training tests need PyTorch) — again whenever pyproject.toml changes; both are safe to
# rerun, in any order.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# rapidocr-onnxruntime without its dependencies: it asks for opencv-python, which would clash with the
# headless OpenCV (its other dependencies are in pyproject.toml).
RAPIDOCR := rapidocr-onnxruntime==1.4.4

# One stamp per set of extras, so each target rebuilds only its own set when pyproject.toml changes.
RUN_STAMP   := $(VENV)/.installed-run
TEST_STAMP  := $(VENV)/.installed-test
TRAIN_STAMP := $(VENV)/.installed-train
# Extras in variables: a comma written inside $(call …) would split the argument.
TEST_EXTRAS  := [dev,train]
TRAIN_EXTRAS := [train]

.PHONY: run test system-packages lint unit bench screenshots train model-eval clean

# $(call install,EXTRAS): the venv (made if missing), this checkout in editable mode with EXTRAS, the OCR wheel.
define install
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.$(1)'
	$(PY) -m pip install --quiet --no-deps '$(RAPIDOCR)'
	@touch $@
endef

$(RUN_STAMP): pyproject.toml
	$(call install,)

$(TEST_STAMP): pyproject.toml
	$(call install,$(TEST_EXTRAS))

$(TRAIN_STAMP): pyproject.toml
	$(call install,$(TRAIN_EXTRAS))

# The scanner: the window on the best camera (the bundled demo clip, with a banner, when there is none);
# without a display, the headless scanner.
run: $(RUN_STAMP)
	$(VENV)/bin/cardsight

test: lint unit

# The Debian packages the tests use (scripts/system-packages.sh): installed as root or with passwordless
# sudo, else named; a test whose tool is missing skips and says which package brings it.
system-packages:
	@scripts/system-packages.sh

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check app tests bench models ui
	$(VENV)/bin/mypy app ui models bench
	$(VENV)/bin/lint-imports

unit: system-packages $(TEST_STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

# Every benchmark, JSON into bench/results/ (~30 minutes on 2 cores; the GUI one needs Xvfb, the shop one
# PostgreSQL's server binaries: scripts/system-packages.sh). See bench/README.md.
bench: $(TRAIN_STAMP)
	for b in detect multicard identify openset number_fit number_position number_frames live scenarios collection prices; do $(PY) bench/$$b.py > bench/results/$$b.json || exit 1; done
	$(PY) bench/shop.py --out bench/results/shop.json > /dev/null
	xvfb-run -a -s "-screen 0 1920x1080x24" $(PY) bench/gui.py > bench/results/gui.json

# Retrain the card model (teacher → stage 1 → stage 2 → ONNX FP32/INT8 + Hailo kit) into models/card
# (~35 minutes on 2 cores from nothing; rerun to resume), then rebuild the bundle it needs.
train: $(TRAIN_STAMP)
	$(VENV)/bin/cardsight-train --out models/card --export
	$(VENV)/bin/cardsight catalog build --catalog ../shared/data/pokemon-tcg --out reference/default --backs ../shared/data/ebay-photos

# Leave-one-set-out evaluation of every model (~45 minutes on 2 cores).
model-eval: $(TRAIN_STAMP)
	$(PY) bench/model_eval.py > bench/results/model_eval.json

# Screenshots of the GUI under a virtual X server (Debian: xvfb libxcb-icccm4 libxcb-keysyms1).
screenshots: $(RUN_STAMP)
	xvfb-run -a -s "-screen 0 1920x1080x24" $(PY) bench/screenshots.py --out docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
