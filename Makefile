# Two commands do all the set-up: `make run` and `make test`. Each builds .venv from nothing when
# needed (and again when pyproject.toml changes); both are safe to rerun.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint unit bench screenshots clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
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

# Every benchmark, JSON into bench/results/ (~15 minutes on 2 cores; GUI ones need a display: screenshots).
bench: $(STAMP)
	for b in detect identify openset live collection; do $(PY) bench/$$b.py > bench/results/$$b.json || exit 1; done
	xvfb-run -a -s "-screen 0 1920x1080x24" $(PY) bench/gui.py > bench/results/gui.json

# Screenshots of the GUI under a virtual X server (Debian: xvfb libxcb-icccm4 libxcb-keysyms1).
screenshots: $(STAMP)
	xvfb-run -a -s "-screen 0 1920x1080x24" $(PY) bench/screenshots.py --out docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
