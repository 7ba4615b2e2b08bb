# Production: baked.Dockerfile made fit to run for real. gunicorn instead of Flask's development
# server, a fixed non-root user, writes only to /tmp (so --read-only --tmpfs /tmp works), a
# HEALTHCHECK without curl, OCI labels. Build from the repo root:
#   docker build -f dockerfiles/production.Dockerfile -t bert-classifier:production .
#   docker run --rm bert-classifier:production                 # the batch run on the sample text
#   docker run --rm -p 8080:8080 --read-only --tmpfs /tmp bert-classifier:production gunicorn  # API
# In a room without internet: the same build args as for baked.Dockerfile.
# Checked by container-structure-test: dockerfiles/production.cst.yaml.
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
# The venv that ships needs no installer (the base image keeps its own pip for now). A separate
# RUN is fine here: builder layers never ship, and the install above stays shared with baked.
RUN pip uninstall -y pip

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

# What the image is, for registries and scanners (OCI annotation keys), and which model it
# answers with under which licence (our own keys; the model card is /opt/model/README.md). The
# model's ARGs have the model stage's defaults; offline rooms pass their local model's.
ARG MODEL_ID=distilbert-base-uncased-finetuned-sst-2-english
ARG MODEL_REVISION=714eb0fa89d2f80546fda750413ed43d93601a13
ARG MODEL_LICENSE=Apache-2.0
LABEL org.opencontainers.image.title="bert-classifier" \
      org.opencontainers.image.description="BERT sentiment classifier: batch run and HTTP API (gunicorn)" \
      org.opencontainers.image.base.name="python:3.11-slim-bookworm" \
      workshop.model.id="$MODEL_ID" \
      workshop.model.revision="$MODEL_REVISION" \
      workshop.model.license="$MODEL_LICENSE"

# torch, transformers, flask, gunicorn and the compiled wordcount, with their scripts.
COPY --from=builder /opt/venv /opt/venv
# The venv's python, pip-installed packages and gunicorn come first.
ENV PATH=/opt/venv/bin:$PATH

# The model's files: after the venv, before the app, so an app change leaves both cached.
COPY --from=model /model /opt/model
# The app loads the baked model and never asks the Hub for anything. No .pyc written at run
# time: the root filesystem may be read-only.
ENV MODEL_ID=/opt/model \
    HF_HUB_OFFLINE=1 \
    PYTHONDONTWRITEBYTECODE=1

# A fixed UID, not root: files it may read are world-readable, it owns nothing it could change,
# and the UID is the same on every build (volume permissions and Kubernetes' runAsUser need one).
# Its group gets the same fixed number, so that USER 10001:10001 names a group that exists.
RUN groupadd --system --gid 10001 app && \
    useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app

# In app/, where gunicorn finds gunicorn.conf.py.
WORKDIR /srv/app

# The app last: editing it rebuilds only this small layer.
COPY app/ ./

USER 10001:10001
EXPOSE 8080
# Asks the API itself, with the Python already here: no curl to install and keep patched.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

# Exec form: python is PID 1 and gets docker stop's SIGTERM (a shell in between would not pass it).
# Classify the sample file once and exit; `gunicorn` as the command serves the API instead.
CMD ["python", "predictor.py", "sample_data/sample_text.txt"]
