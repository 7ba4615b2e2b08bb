# Exercise 04-cache-order: order the builder so that editing the app keeps the install cached.
#
# The builder below has no install step. Goal: the image installs app/runtime-requirements.txt
# (wordcount included) into the venv the runtime stage copies, and a one-line change to
# app/server.py rebuilds without running pip again.
#
# Checked from the repository root by `python -m workshop check 04-cache-order`: it builds this
# file, imports transformers in the image, adds a line to a copy of app/server.py and builds
# again (a build that runs pip is stopped and named), then runs the batch job. Stuck? The hints
# are in exercises/README.md.

FROM python:3.11-bookworm AS builder

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# BEGIN SOLUTION: the builder's install step (the goal is at the top of this file)
COPY app/runtime-requirements.txt app/
COPY app/wordcount/ app/wordcount/
RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" -r app/runtime-requirements.txt
# END SOLUTION

FROM python:3.11-slim-bookworm

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

# The app last: editing it rebuilds only this small layer.
COPY app/ app/

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
