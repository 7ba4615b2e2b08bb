# Exercise 03-fix-slim: make the slim build work, and leave no compiler behind.
#
# This is naive.Dockerfile on python:3.11-slim-bookworm, without its install step. Lesson 03 showed why
# the plain install fails on slim. Goal: the build succeeds, the image classifies the sample
# text, and neither the final filesystem nor any layer of the image holds gcc. Install
# app/requirements.txt as naive.Dockerfile does, with --extra-index-url "$TORCH_INDEX_URL" (the
# ARG below): without it pip takes PyPI's torch, the CUDA build, gigabytes a CPU never uses.
#
# Checked from the repository root by `python -m workshop check 03-fix-slim`: it builds this
# file (minutes the first time), imports wordcount in the image, looks for gcc in the image and
# in every layer, and runs the batch job. Stuck? The hints are in exercises/README.md.
# Hadolint rules broken on purpose (kept from naive): DL3008, DL3009, DL3015 on the curl line;
# DL3008 on the compiler line, whose packages are gone before the layer is written.

FROM python:3.11-slim-bookworm

# The repo's app/ ends up at /srv/app.
WORKDIR /srv

# hadolint ignore=DL3008,DL3009,DL3015
RUN apt-get update && apt-get install -y curl

COPY . .

# torch's CPU build, and a classroom package cache if there is one (as in slim.Dockerfile).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# BEGIN SOLUTION: the install step (the goal is at the top of this file)
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        gcc \
        libc6-dev \
    ; \
    pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" -r app/requirements.txt; \
    apt-get purge -y --auto-remove \
        gcc \
        libc6-dev \
    ; \
    rm -rf /var/lib/apt/lists/*
# END SOLUTION

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
