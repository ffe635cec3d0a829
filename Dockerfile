# syntax=docker/dockerfile:1
# Parley's images. The default (last) target is the orchestrator: `parley serve` over HTTPS on 0.0.0.0.
# Other targets, used by docker-compose.yml:
#   triton-cpu   the orchestrator image serving model_repository/cpu with scripts/tritonserver-cpu (the
#                Triton server from the nvidia-pytriton wheel; its Python-backend models import parley)
#   janus        Debian's Janus Gateway with the config in deploy/janus/
#   nginx-rtmp   Debian's nginx with the RTMP module (RTMP ingest, HLS out), config in deploy/nginx/
#   triton-gpu   NVIDIA's Triton image (TRITON_GPU_IMAGE: the TensorRT-LLM one by default, or the general
#                one), plus what model_repository/gpu's Python models import (parley's source, a few packages)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG TRITON_GPU_IMAGE=nvcr.io/nvidia/tritonserver:24.11-trtllm-python-py3

# --- llama-cpp-python has no binary wheel on PyPI: compile it once, in its own stage ------------------
FROM ${PYTHON_IMAGE} AS llama-wheel
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
# An image runs on CPUs other than the one that built it, so llama.cpp is not tuned to the build host
# by default. On the machine that will serve, --build-arg LLAMA_CMAKE_ARGS=-DGGML_NATIVE=ON is faster.
ARG LLAMA_CMAKE_ARGS=-DGGML_NATIVE=OFF
COPY pyproject.toml /src/pyproject.toml
RUN version=$(sed -n 's/^ *"llama-cpp-python==\([0-9.]*\)".*/\1/p' /src/pyproject.toml) \
    && CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
       pip wheel --no-cache-dir --no-deps -w /wheels "llama-cpp-python==$version"

# --- the web app's packages (three.js) ------------------------------------------------------------------
FROM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# --- Triton on the GPU: one stage, built on two images of one NGC release (export/triton_gpu.py) --------
# docker-compose.yml builds it twice with TRITON_GPU_IMAGE: NVIDIA's TensorRT-LLM image (the LLM and
# Whisper) and its general image (onnxruntime and TensorRT: VAD, voice, faces), which the other lacks.
# 24.11: Triton 2.52, CUDA 12.6 (driver 560+, or a data-center forward-compatible one), TensorRT 10.6,
# TensorRT-LLM 0.15 (the first whose backend takes Whisper's encoder features; Ampere or newer).
# The -py3 image is Ubuntu 24.04 with Python 3.12; the TensorRT-LLM image's Python may be older than
# parley's 3.11, so the modules the Python models import keep to 3.10 (docs/deploy.md). Engines and
# plans must be built in the image that serves them (export/trtllm/ in the TensorRT-LLM one,
# export/wav2lip.py --tensorrt in the general one): a plan loads only in the TensorRT that built it.
# The repository's Python models import parley (its code only: each model's registry entries are
# parameters of its config.pbtxt, and the models themselves are in PARLEY_HOME); they need only these
# of its dependencies, at the versions pyproject.toml pins. numpy stays below 2: TensorRT-LLM
# requires it (numpy<2 in its requirements) and the Python backend's stub reads string tensors only
# under numpy 1, while these packages would pull numpy 2 in over the image's. Ubuntu 24.04's pip
# refuses a system-wide install without PIP_BREAK_SYSTEM_PACKAGES (PEP 668); older pips ignore it.
FROM ${TRITON_GPU_IMAGE} AS triton-gpu
COPY pyproject.toml /tmp/pyproject.toml
RUN PIP_BREAK_SYSTEM_PACKAGES=1 pip install --no-cache-dir "numpy<2" \
    $(sed -n 's/^ *"\(pydantic[^"]*\|pyyaml[^"]*\|piper-tts==[0-9.]*\|faster-whisper==[0-9.]*\)".*/\1/p' /tmp/pyproject.toml)
COPY orchestrator /opt/parley/orchestrator
ENV PYTHONPATH=/opt/parley/orchestrator PARLEY_HOME=/models
# models-init (docker-compose.yml) assembles the served repository in the models volume.
CMD ["tritonserver", "--model-repository=/models/triton-gpu"]

# --- Debian's Janus Gateway -----------------------------------------------------------------------------
FROM debian:bookworm-slim AS janus
RUN apt-get update && apt-get install -y --no-install-recommends janus \
    && rm -rf /var/lib/apt/lists/*
# deploy/janus/ is mounted over /etc/janus by docker-compose.yml.
CMD ["janus", "--configs-folder=/etc/janus"]

# --- Debian's nginx with the RTMP module ------------------------------------------------------------------
FROM debian:bookworm-slim AS nginx-rtmp
# gettext-base: envsubst, with which deploy/proxy/render fills in the proxy's template (scale profile).
RUN apt-get update && apt-get install -y --no-install-recommends nginx libnginx-mod-rtmp gettext-base \
    && rm -rf /var/lib/apt/lists/*
# deploy/nginx/ is mounted at /etc/nginx/parley by docker-compose.yml; its nginx.conf runs in the foreground.
CMD ["nginx", "-c", "/etc/nginx/parley/nginx.conf"]

# --- the orchestrator ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS orchestrator-base
# libgomp1: llama.cpp's OpenMP threads; openssl: the self-signed certificate made at first start.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 openssl \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    PARLEY_HOME=/models PATH=/app/.venv/bin:$PATH
WORKDIR /app
# The same layout as scripts/setup makes (.venv/ beside the source), which scripts/tritonserver-cpu expects.
RUN python -m venv /app/.venv
COPY --from=llama-wheel /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels
# Dependencies first, from pyproject.toml alone, so that code edits do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p orchestrator/parley && touch orchestrator/parley/__init__.py \
    && pip install ".[models,triton]" && pip uninstall -y parley
COPY orchestrator ./orchestrator
COPY configs ./configs
COPY avatars ./avatars
COPY web ./web
COPY --from=web /web/node_modules ./web/node_modules
COPY deploy/orchestrator ./deploy/orchestrator
# Editable, as scripts/setup installs it: parley finds configs/, avatars/ and web/ beside its source.
RUN pip install --no-deps -e . && parley models fetch
# The default models now sit in /models. docker-compose.yml mounts a named volume there, which Docker
# fills from the image the first time; models fetched later (`parley models fetch NAME`) persist in it.

FROM orchestrator-base AS triton-cpu
COPY model_repository ./model_repository
COPY scripts/tritonserver-cpu ./scripts/tritonserver-cpu
EXPOSE 8000 8001 8002
CMD ["/app/scripts/tritonserver-cpu"]

FROM orchestrator-base AS orchestrator
EXPOSE 8443
ENTRYPOINT ["/app/deploy/orchestrator/entrypoint.sh"]
CMD ["parley", "serve"]
