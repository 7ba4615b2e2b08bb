# Exercise 03-fix-slim: make the slim build work, and leave no compiler behind.
#
# This is naive.Dockerfile on python:3.11-slim. Lesson 03 showed why it fails: slim has no C
# compiler, and pip must compile app/wordcount. Write ONE RUN instruction that installs a
# compiler (gcc, libc6-dev, python3-dev), installs app/requirements.txt, then purges the
# compiler and deletes apt's package lists. In one RUN, no layer ever stores the compiler.
#
# Check it from the repository root (it builds this file, about 5 minutes the first time):
#   python -m workshop check 03-fix-slim
# Hadolint rules broken on purpose (kept from naive): DL3008, DL3009, DL3015 on the curl line;
# DL3008 on the compiler line, whose packages are gone before the layer is written.

FROM python:3.11-slim

# The repo's app/ ends up at /srv/app.
WORKDIR /srv

# hadolint ignore=DL3008,DL3009,DL3015
RUN apt-get update && apt-get install -y curl

COPY . .

# torch's CPU build, and a classroom package cache if there is one (as in slim.Dockerfile).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# BEGIN SOLUTION: one RUN that apt-get installs gcc libc6-dev python3-dev, pip installs app/requirements.txt (with the CPU torch index), then purges the three and removes /var/lib/apt/lists/*
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        gcc \
        libc6-dev \
        python3-dev \
    ; \
    pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" -r app/requirements.txt; \
    apt-get purge -y --auto-remove \
        gcc \
        libc6-dev \
        python3-dev \
    ; \
    rm -rf /var/lib/apt/lists/*
# END SOLUTION

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
