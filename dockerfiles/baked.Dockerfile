# The model baked in: cache.Dockerfile plus the model's files, fetched at build time and copied
# into the image. The container starts without downloading anything, runs with --network none,
# and every container of one image tag uses exactly the same weights. Build from the repo root:
#   docker build -f dockerfiles/baked.Dockerfile -t bert-classifier:baked .
# In a room without internet: also --build-arg MODEL_SOURCE=workshop-model:local (workshop/offline.sh).
# Hadolint-clean: no rule broken on purpose.

# Where the model comes from: the model-from-hub stage below, or any image that holds the model
# files in /model (an ARG before the first FROM may name a stage or an image in a later FROM).
ARG MODEL_SOURCE=model-from-hub

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

# The model from the Hub, downloaded once at build time with the builder's huggingface_hub:
# only the files the pipeline reads (the repo also holds TensorFlow, ONNX and older weights).
FROM builder AS model-from-hub
ARG MODEL_ID=distilbert-base-uncased-finetuned-sst-2-english
# A commit of the model's repository on the Hub, not its main branch: every build gets the same
# files, whatever is pushed there later (transformers' own default for this pipeline pins it too).
ARG MODEL_REVISION=714eb0fa89d2f80546fda750413ed43d93601a13
# The weights, the tokenizer and config files, and README.md: the model card (licence, training
# data, limitations) travels with the model.
RUN python -c "import sys; from huggingface_hub import snapshot_download; \
snapshot_download(sys.argv[1], revision=sys.argv[2], local_dir='/model', \
                  allow_patterns=['*.json', '*.txt', 'model.safetensors', 'README.md'])" \
    "$MODEL_ID" "$MODEL_REVISION"

FROM ${MODEL_SOURCE} AS model

# Runtime: slim, no compiler. It copies the builder's venv and never runs pip itself.
FROM python:3.11-slim-bookworm

# torch, transformers, flask, gunicorn and the compiled wordcount, with their scripts.
COPY --from=builder /opt/venv /opt/venv
# The venv's python, pip-installed packages and gunicorn come first.
ENV PATH=/opt/venv/bin:$PATH

# The model's files: after the venv, before the app, so an app change leaves both cached.
COPY --from=model /model /opt/model
# The app loads the baked model and never asks the Hub for anything.
ENV MODEL_ID=/opt/model \
    HF_HUB_OFFLINE=1

WORKDIR /srv

# The app last: editing it rebuilds only this small layer.
COPY app/ app/

# Classify the sample file once and exit.
CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
