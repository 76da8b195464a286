# immunolab: the two commands a new user types are `make demo` and `make test`.
# Everything else (setup, lint, bench, reliability) is here too; each target sets itself up.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_STORE ?= demo-store

.PHONY: setup demo test lint typecheck bench reliability clean-demo fuzz browser

setup: $(STAMP)

# constraints.txt pins the versions the suite was run with (pyproject.toml keeps the supported ranges)
$(STAMP): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/python sample_data/generate.py --out sample_data --if-absent
	$(BIN)/immunolab ingest sample_data/flow sample_data/plates sample_data/beads \
	    sample_data/clinical/hospital_labs.csv sample_data/clinical/adverse_events.csv sample_data/clinical/events.csv \
	    --store $(DEMO_STORE) --manifest sample_data/manifest.csv --subjects sample_data/subjects.csv
	$(BIN)/immunolab store info --store $(DEMO_STORE) --per-visit
	$(BIN)/immunolab report --store $(DEMO_STORE) --out demo-report.html
	@echo "report: $(CURDIR)/demo-report.html"

# Headless Chromium renders the HTML report in one test; installed from Debian when possible
# (root + apt-get), otherwise that single test is skipped with a message.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "note: chromium could not be installed; the browser rendering test will be skipped"

test: setup browser
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check immunolab assays tests benchmarks sample_data
	$(BIN)/mypy immunolab assays

bench: setup
	$(BIN)/python -m benchmarks.run --readme --table-out benchmarks/README_table.md

reliability: setup
	IMMUNOLAB_RELIABILITY=large $(BIN)/python -m pytest -q tests/reliability tests/store/test_engine.py \
	    tests/fcs/test_malformed_reliability.py tests/cytokine tests/fcs/test_keyword_budget.py \
	    tests/fcs/test_numeric_extremes.py tests/io/test_csv_safe.py tests/cli/test_terminal_safety.py \
	    tests/cli/test_warning_lines.py tests/fuzz
	$(BIN)/python -m tests.reliability.render

# Coverage-guided fuzzing (atheris): every target runs FUZZ_SECONDS; a crash stops `make fuzz` and
# leaves the input in fuzz/corpus/crashes/ (replay it with tests/fuzz/test_regressions.py).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fcs xponent intelliflex bioplex msd legendplex identity
fuzz: setup
	$(BIN)/python -m pip install --quiet atheris
	@mkdir -p fuzz/corpus/crashes
	@if [ -d "$${IMMUNOLAB_SHARED_DATA:-../shared/data}" ]; then \
	  $(BIN)/python -m fuzz.make_seeds --shared "$${IMMUNOLAB_SHARED_DATA:-../shared/data}" --out fuzz/corpus; fi
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; mkdir -p fuzz/corpus/$$t; \
	  $(BIN)/python fuzz/fuzz_$$t.py -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=3072 \
	    -print_final_stats=1 -artifact_prefix=fuzz/corpus/crashes/$$t- fuzz/corpus/$$t fuzz/seeds/$$t || exit 1; \
	done

clean-demo:
	rm -rf $(DEMO_STORE)
