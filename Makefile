# segrap-nb: the two commands of the README, and a few helpers.
#   make demo   set up .venv, make the quick phantom, run every notebook headless into build/
#   make test   set up .venv, run the whole test suite (unit tests + notebooks under nbval)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed

.PHONY: install demo lint test test-unit test-notebooks test-fast notebooks bench lab clean itk-viewer

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	# nnunetv2 (test extra) pulls a CUDA torchvision that cannot load beside the CPU torch pin;
	# nothing here imports torchvision, so remove it rather than leave a broken import around.
	$(PIP) uninstall --quiet --yes torchvision || true
	touch $(STAMP)

install: $(STAMP)

# The itkwidgets viewer as a local copy (npm packages, versions matching the installed itkwidgets),
# served by JupyterLab itself, so the 3D viewer works offline. Prints one line and carries on
# (notebooks fall back to matplotlib) when npm or the registry is not there.
ITK_VIEWER := $(VENV)/share/segrap-nb/itk-viewer/labextensions/imjoy-jupyterlab-extension/static/segrap-offline/manifest.json
$(ITK_VIEWER): $(STAMP) segrap_nb/viz/itk_assets.py
	$(BIN)/python -m segrap_nb.viz.itk_assets install

itk-viewer: $(ITK_VIEWER)

demo: $(STAMP)
	$(BIN)/python -c "from segrap_nb import data_root; print('data:', data_root())"
	mkdir -p build/notebooks
	for nb in notebooks/[0-9]*.ipynb; do \
	  echo "== $$nb"; \
	  $(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=900 \
	    --output-dir build/notebooks "$$nb" || exit 1; \
	done
	@echo "Executed notebooks are in build/notebooks/. Open them with: make lab"

# Unit tests and notebooks (nbval) in one pytest session on 2 workers. --dist loadgroup: each
# notebook is one work unit, and so are the two groups of users of the shared quick run
# (tests/quick_run.py: the quick model, trained once, which notebooks 04 and 05 reuse); every
# other test is its own. --no-loadscope-reorder keeps the order tests/conftest.py gives: the run's
# training first, its readers last, so neither worker waits for it while other work is left.
# One thread per worker (torch, numpy, and the notebooks' kernels inherit it): two workers with
# torch's default of a thread per core oversubscribe the 2 cores, and the quick run's training
# then spends more CPU per step than on one thread (benchmarks/bench_training.py measures it).
PYTEST   := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder --durations=15
NBVAL    := --nbval-lax --nbval-sanitize-with notebooks/sanitize.cfg

# ruff (lint + format check) and mypy on the package: make test fails on either.
lint: $(STAMP)
	$(BIN)/ruff check segrap_nb tests benchmarks
	$(BIN)/ruff format --check segrap_nb tests benchmarks
	$(BIN)/mypy

test: $(STAMP) $(ITK_VIEWER) lint
	$(PYTEST) $(NBVAL) tests notebooks

test-unit: $(STAMP) $(ITK_VIEWER)
	$(PYTEST) tests

test-notebooks: $(STAMP)
	$(PYTEST) $(NBVAL) notebooks

# The quick loop: no slow test (the quick run, notebooks 04-05, nnU-Net's own check), no browser.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow and not browser" $(NBVAL) tests notebooks

# Re-execute the notebooks in place so their stored outputs match the current code.
notebooks: $(STAMP)
	$(BIN)/python -m segrap_nb.course.lessons notebooks/[0-9]*.ipynb
	$(BIN)/python -c "from segrap_nb import data_root; print('data:', data_root())"
	for nb in notebooks/[0-9]*.ipynb; do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.store_widget_state=False "$$nb" || exit 1; \
	done

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python "$$b" || exit 1; done

lab: $(STAMP) $(ITK_VIEWER)
	$(BIN)/jupyter lab notebooks/00_index.ipynb

clean:
	rm -rf build .pytest_cache
