# DONA task runner. `make run` and `make test` are the two commands a fresh machine needs.
VENV ?= .venv
PY := $(VENV)/bin/python
DONA := $(VENV)/bin/dona
DEMO_CATALOG := catalog/chorus_icecat/products.jsonl.gz
DEMO_NAME := demo
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: install demo run test lint format bench clean

install: $(VENV)/.installed  ## create .venv and install DONA with its test tools (idempotent)

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

demo: install  ## ingest the demo catalog unless it is already live
	@$(DONA) catalogs --json | grep -q '"name": "$(DEMO_NAME)"' \
	  || $(DONA) ingest $(DEMO_CATALOG) --catalog $(DEMO_NAME) --prices-in-cents --currency USD

run: demo  ## install if needed, ingest the demo catalog once, serve the app
	$(VENV)/bin/streamlit run ui/app.py --server.address $(HOST) --server.port $(PORT) \
	  --server.headless true --browser.gatherUsageStats false

test: install  ## unit, storage (SQLite + a PostgreSQL server it starts), integration, UI tests
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check dona ui tests evals
	$(VENV)/bin/ruff format --check dona ui tests evals

format: install
	$(VENV)/bin/ruff check --fix dona ui tests evals
	$(VENV)/bin/ruff format dona ui tests evals

bench: install  ## ingest + query benchmark on the full demo catalog -> evals/reports/bench_search.md
	$(PY) evals/bench_search.py --out evals/reports/bench_search.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
