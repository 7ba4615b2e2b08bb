# Exercise 07-production-hardening: harden another app's image for production.
#
# Lesson 07 hardened the classifier. This is the ticket router (exercises/transfer-app/, read
# its README.md and serve.py) baked as in exercise 06: it runs as root, tells Docker nothing
# about its health, and its server, waitress, has never run on a read-only root. The platform
# it goes to mounts no writable folder into a container: no --tmpfs, no volume (Docker's own
# /dev/shm, 64 MB of shared memory, is no place for request bodies).
# Goal: the container runs as a fixed, numeric, non-root UID; Docker reports it "healthy" once
# GET /health answers, with no tool added to the image for that; it serves POST /route with
# `--read-only` and nothing else; and a request body over 64 KiB (serve.py reads at most 5,000
# characters of a message) is answered 413, whatever its size.
#
# Checked from the repository root by `python -m workshop check 07-production-hardening`: it
# builds this file with exercises/transfer-app/ as the build context, reads the image's user and
# health check, starts it with --read-only alone, routes three messages, waits for Docker's
# "healthy", and sends a 1 MB and a 100 KB request (headers first, the body if the server waits).
# Build it yourself with:
# docker build $BUILD_FLAGS -f exercises/07-production-hardening.Dockerfile -t ticket-router:hardened exercises/transfer-app
# Stuck? The hints are in exercises/README.md.

FROM python:3.11-slim-bookworm AS builder
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# Train: the builder's venv, the training script and its data; writes /model/router.joblib.
FROM builder AS train
COPY train.py .
COPY data/ data/
RUN mkdir /model && python train.py data/tickets.csv /model/router.joblib

FROM python:3.11-slim-bookworm
COPY --from=builder /opt/venv /opt/venv
# No .pyc written next to the sources at run time: the root filesystem will be read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /srv

COPY --from=train /model/router.joblib /opt/model/router.joblib
ENV MODEL_PATH=/opt/model/router.joblib

# YOUR CODE HERE: a user for the app (see the goal at the top of this file)

COPY serve.py .
EXPOSE 8080

# Exercise 06 started the server with CMD ["waitress-serve", "--port=8080", "serve:app"].
# YOUR CODE HERE: run as that user; let Docker ask GET /health; start waitress so that no request makes it write a file
