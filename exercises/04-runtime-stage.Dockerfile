# Exercise 04-runtime-stage: write the runtime stage of a multi-stage build, for a C extension
# that links a system library.
#
# The builder stage below is complete: on python:3.11-bookworm, which has a compiler and many
# libraries' headers, it compiles exercises/yamlstats/ (read its README.md) into the venv
# /opt/venv. Goal: a last stage on python:3.11-slim-bookworm whose image has no compiler and no
# headers, never runs pip, imports yamlstats, and runs `python -m yamlstats samples/training.yaml`
# from /srv when started with no arguments.
#
# Checked from the repository root by `python -m workshop check 04-runtime-stage`: it builds
# this file with exercises/yamlstats/ as the build context, looks for gcc and yaml.h, imports
# yamlstats, reads the runtime stage's instructions for a pip install, and runs the image's
# command. Build it yourself with:
# docker build $BUILD_FLAGS -f exercises/04-runtime-stage.Dockerfile -t yamlstats:multistage exercises/yamlstats
# Stuck? The hints are in exercises/README.md.

FROM python:3.11-bookworm AS builder

# Builder and runtime must have the same Python at the same path: the venv's bin/python is a
# symlink to the base image's interpreter. Keep both FROM lines on the same Python tag.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY . .
RUN pip install --no-cache-dir .

# YOUR CODE HERE: the runtime stage (the goal is at the top of this file)
