# Exercise 10-transfer-app: containerize a whole app, from an empty Dockerfile.
#
# exercises/transfer-app/ is a small service of its own: a scikit-learn model that routes a
# customer's message to the team that should answer it (read its README.md; exercises 04 and 06
# ordered and baked parts of it). Goal, with what the
# day taught: an image that trains the model while it builds and serves it with waitress on port
# 8080 (POST /route), in two stages, so that the image keeps the trained model.joblib but not the
# training data; running as a fixed, numeric, non-root UID; under 500 MB; and ordered so that a
# change to serve.py rebuilds without running pip again. (If your room has a package cache,
# declare ARG PIP_INDEX_URL and ARG PIP_TRUSTED_HOST before pip runs, as the workshop's files do.)
#
# Checked from the repository root by `python -m workshop check 10-transfer-app`: it builds this
# file with exercises/transfer-app/ as the build context, reads the image's stages, user, size
# and files, starts the image's own command and routes three messages, then adds a line to a copy
# of serve.py and builds again (a build that runs pip is stopped and named). Build it yourself
# with: docker build $BUILD_FLAGS -f exercises/10-transfer-app.Dockerfile -t ticket-router exercises/transfer-app
# Stuck? The hints are in exercises/README.md.

# BEGIN SOLUTION: your Dockerfile (the goal is at the top of this file)
# Builder: installs the requirements into a venv, then trains the model with them.
FROM python:3.11-slim-bookworm AS builder
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# Only the requirements before the install: changing the app's code keeps this layer cached.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
# The training script and its data: in this stage only. The model is all the runtime needs.
COPY train.py .
COPY data/ data/
RUN python train.py data/tickets.csv model.joblib

# Runtime: the same Python at the same path (the venv's python links to it), no training data.
FROM python:3.11-slim-bookworm
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
# The model from the builder: it was pickled by the scikit-learn of the same venv.
COPY --from=builder /srv/model.joblib .
COPY serve.py .
# A fixed, numeric UID that owns nothing in the image: it can read the app, not change it.
USER 10001
EXPOSE 8080
CMD ["waitress-serve", "--port=8080", "serve:app"]
# END SOLUTION
