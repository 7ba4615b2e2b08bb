# Exercise 04-runtime-stage: write the runtime stage of the multi-stage build.
#
# The builder stage below is complete: it compiles and installs everything into the venv
# /opt/venv. Goal: a last stage whose image has no compiler, never runs pip, imports every
# package the builder installed, and classifies app/sample_data/sample_text.txt when run with
# no arguments.
#
# Checked from the repository root by `python -m workshop check 04-runtime-stage`: it builds
# this file, looks for gcc, imports wordcount, reads the runtime stage's instructions for a pip
# install, and runs the batch job. Stuck? The hints are in exercises/README.md.

FROM python:3.11-bookworm AS builder

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

# BEGIN SOLUTION: the runtime stage (the goal is at the top of this file)
FROM python:3.11-slim-bookworm

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

COPY app/ app/

CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
# END SOLUTION
