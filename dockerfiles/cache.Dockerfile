# Pip's cache mount: multistage.Dockerfile with pip's download cache kept by BuildKit between
# builds. With --no-cache-dir every change to the requirements downloads torch again; with a
# cache mount pip downloads only what is new, and the cache never lands in a layer.
# Build from the repo root:
#   docker build -f dockerfiles/cache.Dockerfile -t bert-classifier:cache .
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
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# What the app imports, and nothing else. A BuildKit cache mount keeps pip's downloads between
# builds without writing them into the layer (so no --no-cache-dir): after a change to the
# requirements, pip downloads only what is new.
# torch alone, then the rest from the image's lock, hash-checked (naive.Dockerfile says why), then
# wordcount, a folder, which hash mode does not take.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --index-url "$TORCH_INDEX_URL" -r app/torch-requirements.txt \
    && pip install --require-hashes -r app/runtime-requirements.lock \
    && pip install ./app/wordcount

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
