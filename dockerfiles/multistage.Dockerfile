# Multi-stage: compile in the full image, ship only the installed packages on slim. Build from
# the repo root:
#   docker build -f dockerfiles/multistage.Dockerfile -t bert-classifier:multistage .
# Hadolint-clean: no rule broken on purpose.

# Builder: has gcc and the Python headers, so wordcount compiles without any apt step.
FROM python:3.11-bookworm AS builder

# A virtual environment keeps every installed package under one folder we can copy whole.
# Its bin/python is a symlink to the base image's interpreter, /usr/local/bin/python3, so builder
# and runtime must have the same Python at the same path, and the same C library for the venv's
# compiled code: keep both FROM lines on the same Python version and Debian release.
RUN python -m venv /opt/venv
# First on PATH, so python and pip below are the venv's.
ENV PATH=/opt/venv/bin:$PATH

# The repo's app/ ends up at /srv/app.
WORKDIR /srv

# Only what the install reads, before the app source: editing the app keeps the install cached.
COPY app/runtime-requirements.lock app/torch-requirements.txt app/
COPY app/wordcount/ app/wordcount/
# torch from PyTorch's CPU-only wheel index: PyPI's torch for Linux x86_64 is the CUDA build,
# gigabytes of nvidia-* libraries a CPU never loads (arm64 gets the same CPU build from it).
# Two installs, one index each: torch alone from that index (--index-url, --no-deps), then the
# rest from PyPI, torch's own dependencies too. One install with --extra-index-url would search
# both indexes for every package and take the highest version found on either, so a package
# planted under a name you use, on either index, would win (pip's docs: dependency confusion).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# A classroom's package cache, if your instructor runs one: plain http on the room's network,
# so pip must be told to trust its host. Unset, pip asks PyPI.
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# What the app imports, and nothing else (no jupyter, pytest, black...).
RUN pip install --no-cache-dir --no-deps --index-url "$TORCH_INDEX_URL" -r app/torch-requirements.txt \
    && pip install --no-cache-dir --require-hashes -r app/runtime-requirements.lock \
    && pip install --no-cache-dir ./app/wordcount

# Runtime: slim, no compiler. It copies the builder's venv and never runs pip itself.
FROM python:3.11-slim-bookworm

# torch, transformers, flask, gunicorn and the compiled wordcount, with their scripts.
COPY --from=builder /opt/venv /opt/venv
# The venv's python, pip-installed packages and gunicorn come first.
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

# The app last: editing it rebuilds only this small layer.
COPY app/ app/

# Classify the sample file once and exit.
CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
