PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo demo-htc demo-critkl bench lint clean

$(STAMP): packages/htc/pyproject.toml packages/critkl/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip uninstall -q -y critkl-htc  # the former single distribution, if present
	rm -rf src/critkl_htc.egg-info
	$(BIN)/python -m pip install -q -c constraints.txt -e 'packages/htc[train,encoders,tensorboard,dev]' -e 'packages/critkl[trl,tensorboard,dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

demo: demo-htc demo-critkl

demo-htc: $(STAMP)
	$(BIN)/python -m htc.demo
	$(BIN)/htc reproduce --encoder frozen --seeds 3 --out runs/htc-reproduce

demo-critkl: $(STAMP)
	$(BIN)/python -m critkl.demo outputs/critkl-demo

bench: $(STAMP)
	$(BIN)/python benchmarks/htc_metrics.py
	$(BIN)/python benchmarks/critkl_generation.py

lint: $(STAMP)
	$(BIN)/python -m ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info packages/*/build
