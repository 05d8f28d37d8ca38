# DONA app image: the Streamlit app and the `dona` CLI. The chat model is served by the
# `llm` service of docker-compose.yml (llama.cpp's OpenAI-compatible server).
FROM python:3.11-slim

# gcc/cmake: llama-cpp-python (a dependency of the in-process backend) compiles on install
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY dona ./dona
# not -march=native: ggml's AMX kernels crash on some CPUs (see the Makefile)
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN CMAKE_ARGS="$LLAMA_CMAKE_ARGS" pip install --no-cache-dir ".[postgres]"
COPY ui ./ui
COPY catalog ./catalog
# the merchant's Quality page shows the committed evaluation reports
COPY evals/reports ./evals/reports
COPY docker/entrypoint.sh /usr/local/bin/dona-entrypoint

ENV DONA_DATA_DIR=/data \
    DONA_MODEL_CACHE_DIR=/data/models
VOLUME /data
EXPOSE 8501
ENTRYPOINT ["dona-entrypoint"]
