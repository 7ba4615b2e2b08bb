# Exercise 04-cache-order: order the builder so that editing the app keeps the install cached.
#
# Docker reuses a cached layer only while every instruction above it, and every file those
# instructions copy, are unchanged. Write the builder's install so that a change to
# app/server.py rebuilds only the last layer: copy just the files pip reads
# (app/runtime-requirements.txt and the app/wordcount/ package it names), install, and leave
# the rest of app/ to the runtime stage's last COPY.
#
# Check it from the repository root (it builds this file twice, with a one-line change to a
# copy of app/server.py in between, and runs the image):
#   python -m workshop check 04-cache-order

FROM python:3.11 AS builder

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# BEGIN SOLUTION: COPY app/runtime-requirements.txt and app/wordcount/ into app/, then RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" -r app/runtime-requirements.txt
COPY app/runtime-requirements.txt app/
COPY app/wordcount/ app/wordcount/
RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" -r app/runtime-requirements.txt
# END SOLUTION

FROM python:3.11-slim

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

# The app last: editing it rebuilds only this small layer.
COPY app/ app/

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
