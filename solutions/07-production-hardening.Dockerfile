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

# BEGIN SOLUTION: a user for the app (see the goal at the top of this file)
# A fixed UID, not root; its group gets the same fixed number, so USER 10001:10001 names both.
RUN groupadd --system --gid 10001 router && \
    useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin router
# END SOLUTION

COPY serve.py .
EXPOSE 8080

# Exercise 06 started the server with CMD ["waitress-serve", "--port=8080", "serve:app"].
# BEGIN SOLUTION: run as that user; let Docker ask GET /health; start waitress so that no request makes it write a file
USER 10001:10001
# Asks the API itself, with the Python already here: no curl to install and keep patched.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
# waitress keeps a request body in memory up to 512 KiB (its inbuf_overflow) and writes the rest
# to a temporary file, which a root with nothing writable refuses: the request dies unanswered.
# A cap below that answers 413 as soon as the Content-Length is over it (a client that asks
# "Expect: 100-continue" sends up to the cap first): no body reaches the temporary file.
CMD ["waitress-serve", "--port=8080", "--max-request-body-size=65536", "serve:app"]
# END SOLUTION
