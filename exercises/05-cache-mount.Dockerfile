# Exercise 05-cache-mount: keep apt's downloads in BuildKit cache mounts.
#
# Lesson 05 kept pip's downloads in a cache mount. apt downloads too: every change to the line
# that installs the builder's compiler and headers downloads all of them again. Goal: the
# builder's apt-get step (it installs gcc, libc6-dev and libyaml-dev, as in exercise 03) keeps
# apt's downloaded packages and lists in cache mounts, so that adding one package to that line
# downloads that package alone; no layer stores them. The rest of the file is complete.
#
# Checked from the repository root by `python -m workshop check 05-cache-mount`: it builds this
# file with exercises/yamlstats/ as the build context, then builds it again with one more package
# on the apt-get line and counts the packages apt downloads, then runs the image's command.
# Build it yourself with (DOCKER_BUILDKIT=1: Docker before 23 builds --mount only with BuildKit):
# DOCKER_BUILDKIT=1 docker build $BUILD_FLAGS -f exercises/05-cache-mount.Dockerfile -t yamlstats:cache exercises/yamlstats
# Stuck? The hints are in exercises/README.md.

FROM python:3.11-slim-bookworm AS builder

# YOUR CODE HERE: the builder's apt-get step, with cache mounts (the goal is at the top of this file)

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY . .
RUN pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libyaml-0-2; \
    rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
COPY samples/ samples/
CMD ["python", "-m", "yamlstats", "samples/training.yaml"]
