# Exercise 04-runtime-stage: write the runtime stage of the multi-stage build.
#
# The builder stage below is complete: it compiles and installs everything into the venv
# /opt/venv. Add the final stage: it starts from python:3.11-slim (no compiler), copies the
# venv from the builder, puts the venv first on PATH, and adds the app. It never runs pip.
#
# Check it from the repository root (it builds this file and runs the image):
#   python -m workshop check 04-runtime-stage

FROM python:3.11 AS builder

# Builder and runtime must have the same Python at the same path: the venv's bin/python is a
# symlink to the base image's interpreter. Keep both FROM lines on the same Python tag.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

COPY app/runtime-requirements.txt app/
COPY app/wordcount/ app/wordcount/
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" -r app/runtime-requirements.txt

# BEGIN SOLUTION: FROM python:3.11-slim, COPY --from=builder /opt/venv /opt/venv, ENV PATH=/opt/venv/bin:$PATH, WORKDIR /srv, COPY app/ app/ and the CMD that classifies app/sample_data/sample_text.txt
FROM python:3.11-slim

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

COPY app/ app/

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
# END SOLUTION
