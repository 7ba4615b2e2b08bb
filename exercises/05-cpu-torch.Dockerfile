# Exercise 05-cpu-torch: install torch's CPU build in the builder.
#
# This is multistage.Dockerfile without its install step. Write it so that torch comes from
# PyTorch's CPU wheel index (https://download.pytorch.org/whl/cpu) and everything else from
# PyPI: declare the index as a build argument named TORCH_INDEX_URL, with that address as its
# default (the workshop's offline setup passes its local index under that name), and give it to
# pip as an extra index. Keep the BuildKit cache mount for pip's downloads.
#
# Check it from the repository root (it builds this file and runs the image):
#   python -m workshop check 05-cpu-torch

FROM python:3.11 AS builder

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

COPY app/runtime-requirements.txt app/
COPY app/wordcount/ app/wordcount/
# YOUR CODE HERE: ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu, then RUN --mount=type=cache,target=/root/.cache/pip pip install --extra-index-url "$TORCH_INDEX_URL" -r app/runtime-requirements.txt

FROM python:3.11-slim

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

COPY app/ app/

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
