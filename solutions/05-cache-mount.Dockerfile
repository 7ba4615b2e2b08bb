# Exercise 05-cache-mount: keep pip's downloads between builds, out of the image.
#
# This is multistage.Dockerfile without its install step. Write the builder's install so that
# after a change to app/runtime-requirements.txt pip finds again what it downloaded before, yet
# no download cache ends up in any layer of the image. Torch still comes from PyTorch's CPU index
# (the TORCH_INDEX_URL build argument below), and PIP_INDEX_URL stays declared for a classroom
# package cache.
#
# Check it from the repository root (it builds this file and runs the image):
#   python -m workshop check 05-cache-mount
# The check passes when the install step keeps pip's cache (/root/.cache/pip) in a BuildKit
# cache mount, pip may write to it, no layer holds pip's cache, torch is the CPU build and the
# image classifies the sample.

FROM python:3.11-bookworm AS builder

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

COPY app/runtime-requirements.txt app/
COPY app/wordcount/ app/wordcount/
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# BEGIN SOLUTION: the install step of app/runtime-requirements.txt, its downloads cached across builds
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --extra-index-url "$TORCH_INDEX_URL" -r app/runtime-requirements.txt
# END SOLUTION

FROM python:3.11-slim-bookworm

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

COPY app/ app/

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
