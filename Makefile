# segrap-nb: the two commands of the README, and a few helpers.
#   make demo   set up .venv, make the quick phantom, run every notebook headless into build/
#   make test   set up .venv, run the whole test suite (unit tests + notebooks under nbval)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit test-notebooks notebooks bench lab clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	# nnunetv2 (test extra) pulls a CUDA torchvision that cannot load beside the CPU torch pin;
	# nothing here imports torchvision, so remove it rather than leave a broken import around.
	$(PIP) uninstall --quiet --yes torchvision || true
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -c "from segrap_nb.config import data_root; print('data:', data_root())"
	mkdir -p build/notebooks
	for nb in notebooks/[0-9]*.ipynb; do \
	  echo "== $$nb"; \
	  $(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=900 \
	    --output-dir build/notebooks "$$nb" || exit 1; \
	done
	@echo "Executed notebooks are in build/notebooks/. Open them with: make lab"

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope tests
	$(BIN)/python -m pytest --nbval-lax --nbval-sanitize-with notebooks/sanitize.cfg notebooks

test-unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope tests

test-notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax --nbval-sanitize-with notebooks/sanitize.cfg notebooks

# Re-execute the notebooks in place so their stored outputs match the current code.
notebooks: $(STAMP)
	$(BIN)/python -m segrap_nb.course.lessons notebooks/[0-9]*.ipynb
	$(BIN)/python -c "from segrap_nb.config import data_root; print('data:', data_root())"
	for nb in notebooks/[0-9]*.ipynb; do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.store_widget_state=False "$$nb" || exit 1; \
	done

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python "$$b" || exit 1; done

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/00_index.ipynb

clean:
	rm -rf build .pytest_cache
