# Slim, cleaned up the wrong way: slim.Dockerfile with its install-then-clean step split into
# three RUN instructions. The final filesystem is the same (no gcc, no apt lists), yet the
# image is bigger: every RUN writes a layer, and deleting a file in a later layer only hides it,
# the bytes stay in the layer that added them. Lesson 03 measures that waste. Build from the
# repo root:
#   docker build -f dockerfiles/slim-split-clean.Dockerfile -t bert-classifier:slim-split-clean .
# Hadolint rules broken on purpose (the lesson): DL3008, DL3009, DL3015 on the curl line (kept
# from slim); DL3008 and DL3009 on the compiler line, whose packages and lists a later layer
# deletes: pinning them would buy nothing, and deleting the lists right there is the fix the
# lesson leads to (slim.Dockerfile).

# Same Python, without compilers, -dev libraries and version control.
FROM python:3.11-slim

# The repo's app/ ends up at /srv/app.
WORKDIR /srv

# curl "in case we need it": unpinned, with recommended extras, apt's lists left in the layer.
# hadolint ignore=DL3008,DL3009,DL3015
RUN apt-get update && apt-get install -y curl

# The whole build context, before the install (as in slim.Dockerfile, so these layers are shared).
COPY . .

# Layer 1: the compiler and the package lists, written into this layer for good.
# hadolint ignore=DL3008,DL3009
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev python3-dev

# torch from PyTorch's CPU-only wheel index: PyPI's torch for Linux x86_64 is the CUDA build,
# gigabytes of nvidia-* libraries a CPU never loads. That index calls its build 2.13.0+cpu, which
# sorts above PyPI's 2.13.0, so the pin torch==2.13.0 takes it (arm64 gets the same CPU build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# A classroom's package cache, if your instructor runs one: plain http on the room's network,
# so pip must be told to trust its host. Unset, pip asks PyPI.
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# Layer 2: the packages, wordcount compiled with the gcc of layer 1.
RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" -r app/requirements.txt

# Layer 3: deletes gcc and the lists from the final filesystem, not from layer 1.
RUN apt-get purge -y --auto-remove gcc libc6-dev python3-dev && rm -rf /var/lib/apt/lists/*

# Classify the sample file once and exit.
CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
