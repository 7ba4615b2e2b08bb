# Slim: the naive recipe on python:3.11-slim-bookworm. Diff it against naive.Dockerfile: only the base
# image and the compiler install-then-clean step changed. Build from the repo root:
#   docker build -f dockerfiles/slim.Dockerfile -t bert-classifier:slim .
# Hadolint rules broken on purpose (the lesson, kept from naive): DL3008, DL3009, DL3015 on the
# curl line. DL3008 on the compiler line too: those packages are gone before the layer is
# written, so pinning their versions would buy nothing and break at each Debian point release.

# Same Python, without compilers, -dev libraries and version control.
FROM python:3.11-slim-bookworm

# The repo's app/ ends up at /srv/app.
WORKDIR /srv

# curl "in case we need it": unpinned, with recommended extras, apt's lists left in the layer.
# hadolint ignore=DL3008,DL3009,DL3015
RUN apt-get update && apt-get install -y curl

# The whole build context (notebooks, tests, workshop code...), before the install: editing
# any file in the repo invalidates the cache and reinstalls every package.
COPY . .

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
# Slim has no compiler (see slim-no-compiler.Dockerfile), so install one, build, and remove it
# in ONE instruction: files removed by a later RUN still weigh in the layer that added them.
# gcc and libc6-dev compile wordcount; the base image's Python brings its own headers (Python.h in
# /usr/local/include), so Debian's python3-dev, headers of Debian's Python, is not needed.
# torch alone, then the rest from the image's lock, hash-checked (naive.Dockerfile says why), then
# wordcount, a folder, which hash mode does not take.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        gcc \
        libc6-dev \
    ; \
    pip install --no-cache-dir --no-deps --index-url "$TORCH_INDEX_URL" -r app/torch-requirements.txt; \
    pip install --no-cache-dir --require-hashes -r app/requirements.lock; \
    pip install --no-cache-dir ./app/wordcount; \
    apt-get purge -y --auto-remove \
        gcc \
        libc6-dev \
    ; \
    rm -rf /var/lib/apt/lists/*

# Classify the sample file once and exit.
CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
