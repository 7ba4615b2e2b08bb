# Exercise 06-bake-the-model: bake another app's model into its image.
#
# Lesson 06 copied the classifier's model folder into the image and named it in MODEL_ID.
# exercises/transfer-app/ (the ticket router, read its README.md and serve.py) has a model of
# another kind: one file, which the train stage below writes to /model/router.joblib. The
# runtime stage never receives it, so serve.py finds no model and the container stops. Goal: the
# runtime holds the trained model and serve.py loads it, so that `docker run --network none`
# serves POST /route; the training data stays out of the image; an edit to serve.py rebuilds
# without copying the model again.
#
# Checked from the repository root by `python -m workshop check 06-bake-the-model`: it builds
# this file with exercises/transfer-app/ as the build context, starts the image with
# --network none and routes three messages, and reads the order of the image's layers. Build it
# yourself with:
# docker build $BUILD_FLAGS -f exercises/06-bake-the-model.Dockerfile -t ticket-router:baked exercises/transfer-app
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
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv

# BEGIN SOLUTION: the model, where serve.py will find it (the goal is at the top of this file)
# serve.py loads the file MODEL_PATH names (read its docstring). Copied before serve.py: an
# edit to the app leaves this layer cached.
COPY --from=train /model/router.joblib /opt/model/router.joblib
ENV MODEL_PATH=/opt/model/router.joblib
# END SOLUTION

COPY serve.py .
EXPOSE 8080
CMD ["waitress-serve", "--port=8080", "serve:app"]
