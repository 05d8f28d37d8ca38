# DONA app image: the Streamlit app and the `dona` CLI. The chat model is served by the
# `llm` service of docker-compose.yml (llama.cpp's OpenAI-compatible server).
#
# Two stages: compilers exist only in `build` (llama-cpp-python compiles on install); the
# image that runs holds the installed virtualenv, no compiler, and runs as user `dona`.
# Base images are pinned to a release; bump them deliberately.

FROM python:3.11.11-slim-bookworm AS build

# gcc/cmake: llama-cpp-python (a dependency of the in-process backend) compiles on install
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/dona
ENV PATH=/opt/dona/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dona ./dona
# not -march=native: ggml's AMX kernels crash on some CPUs (see the Makefile)
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN CMAKE_ARGS="$LLAMA_CMAKE_ARGS" pip install --no-cache-dir ".[postgres]"


FROM python:3.11.11-slim-bookworm

# runtime libraries only: OpenMP for ggml's CPU kernels, the C++ runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dona \
 && useradd --system --uid 10001 --gid dona --home-dir /home/dona --create-home dona \
 && mkdir -p /data \
 && chown dona:dona /data

COPY --from=build /opt/dona /opt/dona
WORKDIR /app
COPY ui ./ui
COPY catalog ./catalog
# the merchant's Quality page shows the committed evaluation reports
COPY evals/reports ./evals/reports
COPY docker/entrypoint.sh /usr/local/bin/dona-entrypoint

ENV PATH=/opt/dona/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    DONA_DATA_DIR=/data \
    DONA_MODEL_CACHE_DIR=/data/models
VOLUME /data
USER dona:dona
EXPOSE 8501
# Streamlit's own health endpoint; the first start ingests the demo catalog (minutes)
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
ENTRYPOINT ["dona-entrypoint"]
