# Exercise 08-serve-without-torch: the runtime answers with the exported model, and has no torch.
#
# This is onnx.Dockerfile whose runtime stage does not receive a model: the exporter stage
# installs torch and the ONNX tools, the onnx-model stage exports the model, and the runtime
# installs ONNX Runtime, tokenizers and numpy, but never copies the export's output, so the app
# has nothing to load. Goal: the runtime holds the exported model (the graph, the tokenizer's
# files, the card and checksums the export writes beside it) and the app loads it from there;
# torch stays in the exporter.
#
# Check it from the repository root (it builds this file and runs the image):
#   python -m workshop check 08-serve-without-torch
# The check passes when `import torch` fails in the image, its MODEL_ID names a folder that
# holds a model.onnx and no torch weights, and the batch run classifies the sample.

ARG MODEL_SOURCE=model-from-hub

# Exporter: torch, transformers and the ONNX tools, in a venv of their own. Never shipped.
FROM python:3.11-bookworm AS exporter
RUN python -m venv /opt/export
ENV PATH=/opt/export/bin:$PATH
WORKDIR /srv
COPY app/export-requirements.txt app/
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --extra-index-url "$TORCH_INDEX_URL" -r app/export-requirements.txt

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

# The runtime's venv: what app/onnx-requirements.txt names, and what those packages pull in.
# Built on Debian 12 (bookworm), the release final.Dockerfile runs it on: what pip compiles here
# must load with that release's C library. (python:3.11 alone now means Debian 13, trixie.)
FROM python:3.11-bookworm AS venv
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
COPY app/onnx-requirements.txt app/
COPY app/wordcount/ app/wordcount/
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r app/onnx-requirements.txt

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

# YOUR CODE HERE: the model the app loads, and where it finds it (the goal is at the top of this file)
ENV PYTHONDONTWRITEBYTECODE=1

WORKDIR /srv/app

# Only the files that run: not the export script, the requirements or wordcount's C source.
COPY app/predictor.py app/server.py app/onnx_classifier.py app/main.py app/gunicorn.conf.py ./
COPY app/sample_data/ sample_data/

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

CMD ["python", "predictor.py", "sample_data/sample_text.txt"]
