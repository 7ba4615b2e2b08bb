# CPU-only torch: multistage.Dockerfile with torch from PyTorch's CPU wheel index. PyPI's torch
# for Linux x86_64 is the CUDA build: gigabytes of nvidia-* libraries a CPU server never loads.
# Build from the repo root:
#   docker build -f dockerfiles/cpu.Dockerfile -t bert-classifier:cpu .
# Offline (our CI): --build-arg TORCH_INDEX_URL=http://127.0.0.1:8765/simple (workshop/offline.sh).
# Hadolint-clean: no rule broken on purpose.

# Builder: has gcc and the Python headers, so wordcount compiles without any apt step.
FROM python:3.11 AS builder

# A virtual environment keeps every installed package under one folder we can copy whole.
# Its bin/python is a symlink to the base image's interpreter (/usr/bin/python3 in our offline
# stand-ins, /usr/local/bin/python3 in the official images), so builder and runtime must have
# the same Python version at the same path: keep both FROM lines on the same Python tag.
RUN python -m venv /opt/venv
# First on PATH, so python and pip below are the venv's.
ENV PATH=/opt/venv/bin:$PATH

# The repo's app/ ends up at /srv/app.
WORKDIR /srv

# Only what the install reads, before the app source: editing the app keeps the install cached.
COPY app/runtime-requirements.txt app/
COPY app/wordcount/ app/wordcount/
# Where torch comes from. That index names its build 2.13.0+cpu, and pip takes the highest
# version on all indexes: 2.13.0+cpu sorts above PyPI's 2.13.0, so the pin torch==2.13.0 gets the
# CPU build. On arm64 (Apple Silicon, Graviton) PyPI's torch is CPU-only already.
# Declared just before its one use: a changed index invalidates only the install.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# What the app imports, and nothing else (no jupyter, pytest, black...). A BuildKit cache mount
# keeps pip's downloads between builds without writing them into the layer (so no
# --no-cache-dir): after a change to the requirements, pip downloads only what is new.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --extra-index-url "$TORCH_INDEX_URL" -r app/runtime-requirements.txt

# Runtime: slim, no compiler. It copies the builder's venv and never runs pip itself.
FROM python:3.11-slim

# torch, transformers, flask, gunicorn and the compiled wordcount, with their scripts.
COPY --from=builder /opt/venv /opt/venv
# The venv's python, pip-installed packages and gunicorn come first.
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

# The app last: editing it rebuilds only this small layer.
COPY app/ app/

# Classify the sample file once and exit.
CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
