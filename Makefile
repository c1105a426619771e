# Two commands do all the set-up: `make run` and `make test`. Each builds .venv from nothing when
# needed (and again when pyproject.toml changes); both are safe to rerun.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint unit bench screenshots train model-eval clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,train]'
	$(PY) -m pip install --quiet --no-deps 'rapidocr-onnxruntime==1.4.4'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/cardsight

test: lint unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check app tests bench models ui
	$(VENV)/bin/mypy app ui models bench
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

# Every benchmark, JSON into bench/results/ (~20 minutes on 2 cores; GUI ones need a display: screenshots).
bench: $(STAMP)
	for b in detect identify openset number_fit number_position number_frames live collection; do $(PY) bench/$$b.py > bench/results/$$b.json || exit 1; done
	xvfb-run -a -s "-screen 0 1920x1080x24" $(PY) bench/gui.py > bench/results/gui.json

# Retrain the card model (teacher → stage 1 → stage 2 → ONNX FP32/INT8 + Hailo kit) into models/card
# (~35 minutes on 2 cores from nothing; rerun to resume), then rebuild the bundle it needs.
train: $(STAMP)
	$(VENV)/bin/cardsight-train --out models/card --export
	$(VENV)/bin/cardsight catalog build --catalog ../shared/data/pokemon-tcg --out reference/default --backs ../shared/data/ebay-photos

# Leave-one-set-out evaluation of every model (~45 minutes on 2 cores).
model-eval: $(STAMP)
	$(PY) bench/model_eval.py > bench/results/model_eval.json

# Screenshots of the GUI under a virtual X server (Debian: xvfb libxcb-icccm4 libxcb-keysyms1).
screenshots: $(STAMP)
	xvfb-run -a -s "-screen 0 1920x1080x24" $(PY) bench/screenshots.py --out docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
