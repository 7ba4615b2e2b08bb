# Torch-free: production.Dockerfile's image without torch. The builder exports the model to ONNX
# (torch and transformers stay in the builder); the runtime answers with ONNX Runtime,
# tokenizers and numpy, through the same app (app/onnx_classifier.py, chosen by app/predictor.py
# when the model folder holds a model.onnx). Build from the repo root:
#   docker build -f dockerfiles/onnx.Dockerfile -t bert-classifier:onnx .
#   docker run --rm bert-classifier:onnx                                  # the batch run
#   docker run --rm -p 8080:8080 --read-only bert-classifier:onnx gunicorn   # the API
# --build-arg QUANTIZE=int8 bakes an int8 model instead (a quarter of the size; lesson 08
# measures its accuracy). Offline: TORCH_INDEX_URL and MODEL_SOURCE as for production.Dockerfile.
# Hadolint: one rule broken on purpose, SC2046: the prune step expands onnx.prune's globs unquoted.

ARG MODEL_SOURCE=model-from-hub

# Exporter: torch, transformers and the ONNX tools, in a venv of their own. Never shipped.
FROM python:3.11-bookworm AS exporter
RUN python -m venv /opt/export
ENV PATH=/opt/export/bin:$PATH
WORKDIR /srv
COPY app/export-requirements.lock app/torch-requirements.txt app/
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# torch alone, then the exporter's lock, hash-checked (naive.Dockerfile says why).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --index-url "$TORCH_INDEX_URL" -r app/torch-requirements.txt \
    && pip install --require-hashes -r app/export-requirements.lock

# The model from the Hub, as in production.Dockerfile (the exporter has huggingface_hub).
FROM exporter AS model-from-hub
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

# The export: /onnx gets model.onnx, its weights (model.onnx.data), tokenizer.json and config.json,
# all the runtime reads.
FROM exporter AS onnx-model
COPY --from=model /model /model
COPY app/export_onnx.py app/
# Empty (the default) keeps float32 weights; "int8" quantizes them.
ARG QUANTIZE=""
RUN python app/export_onnx.py /model /onnx ${QUANTIZE:+--$QUANTIZE}

# The runtime's venv: what app/onnx-requirements.txt names and what those packages pull in (its lock).
# Built on Debian 12 (bookworm), the release final.Dockerfile runs it on: what pip compiles here
# must load with that release's C library. (python:3.11 alone now means Debian 13, trixie.)
FROM python:3.11-bookworm AS venv
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
COPY app/onnx-requirements.lock app/
COPY app/wordcount/ app/wordcount/
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# The runtime's lock, hash-checked (naive.Dockerfile says why), then wordcount, a folder.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes -r app/onnx-requirements.lock \
    && pip install ./app/wordcount

# Everything in that venv the app never loads, deleted: dockerfiles/onnx.prune lists each cut
# and why. Their own stage, so `--target venv` keeps the whole venv to measure against.
FROM venv AS pruned-venv
WORKDIR /opt/venv/lib/python3.11/site-packages
# The globs in column one of onnx.prune, expanded here: unquoted on purpose.
# hadolint ignore=SC2046
RUN --mount=type=bind,source=dockerfiles/onnx.prune,target=/tmp/onnx.prune \
    pip uninstall -y pip setuptools \
    && rm -rf $(sed -E -e '/^#/d' -e 's/ {2,}.*//' /tmp/onnx.prune)

# Runtime: as in production.Dockerfile, with a venv a tenth the size.
FROM python:3.11-slim-bookworm

# What the image is, for registries and scanners (OCI annotation keys), and which model it
# answers with under which licence (our own keys; the model card is /opt/model/README.md). The
# model's ARGs have the model stage's defaults; offline rooms pass their local model's.
ARG MODEL_ID=distilbert-base-uncased-finetuned-sst-2-english
ARG MODEL_REVISION=714eb0fa89d2f80546fda750413ed43d93601a13
ARG MODEL_LICENSE=Apache-2.0
LABEL org.opencontainers.image.title="bert-classifier" \
      org.opencontainers.image.description="BERT sentiment classifier on ONNX Runtime, no torch: batch run and HTTP API (gunicorn)" \
      org.opencontainers.image.base.name="python:3.11-slim-bookworm" \
      workshop.model.id="$MODEL_ID" \
      workshop.model.revision="$MODEL_REVISION" \
      workshop.model.license="$MODEL_LICENSE"

RUN groupadd --system --gid 10001 app && \
    useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app

COPY --from=pruned-venv /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The exported model instead of the torch weights.
COPY --from=onnx-model /onnx /opt/model
ENV MODEL_ID=/opt/model \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /srv/app

# Only the files that run: not the export script, the requirements or wordcount's C source.
COPY app/predictor.py app/server.py app/onnx_classifier.py app/main.py app/gunicorn.conf.py ./
COPY app/sample_data/ sample_data/

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

CMD ["python", "predictor.py", "sample_data/sample_text.txt"]
