PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo demo-htc demo-critkl demo-log-check bench lint clean

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

# everything the demos write goes under runs/; each part lists its files, make sums up at the end
demo: demo-htc demo-critkl
	@echo "make demo: done. Reports and plots (listed above by each part): runs/demo-htc/results.json;" \
	  "runs/htc-reproduce/ (report.md, results.json, hf1_vs_threshold.png, per_depth.png);" \
	  "runs/critkl-demo/ (length_table.md, delta_j.md, heatmap.png, heatmap.html, rl/accuracy.png)"

# unbuffered Python output, so a log (make demo > file) shows each line as it is printed
demo demo-htc demo-critkl: export PYTHONUNBUFFERED = 1

demo-htc: $(STAMP)
	$(BIN)/python -m htc.demo --out runs/demo-htc
	$(BIN)/htc reproduce --encoder frozen --seeds 3 --out runs/htc-reproduce

demo-critkl: $(STAMP)
	$(BIN)/python -m critkl.demo runs/critkl-demo

# make demo with its output piped, as in a log: wall and CPU time, and the longest silence (at most 60 s)
demo-log-check: $(STAMP)
	$(BIN)/python benchmarks/log_silence.py --max 60 --log runs/demo-log-check.log -- $(MAKE) --no-print-directory demo

bench: $(STAMP)
	$(BIN)/python benchmarks/htc_metrics.py
	$(BIN)/python benchmarks/critkl_generation.py

lint: $(STAMP)
	$(BIN)/python -m ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info packages/*/build
