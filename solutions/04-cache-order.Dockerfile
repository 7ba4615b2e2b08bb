# Exercise 04-cache-order: order a builder so that editing the app neither reinstalls nor retrains.
#
# Lesson 04 copied what pip reads before pip install, so an app change kept the install cached.
# exercises/transfer-app/ (the ticket router, read its README.md) has a second slow step: it
# trains its model while the image builds. Goal: the builder installs requirements.txt, trains
# the model (python train.py data/tickets.csv model.joblib) and holds serve.py, so that the
# runtime stage below can copy them; and a one-line change to serve.py rebuilds without running
# pip or the training again.
#
# Checked from the repository root by `python -m workshop check 04-cache-order`: it builds this
# file with exercises/transfer-app/ as the build context, routes three messages through the
# image, then adds a line to a copy of serve.py and builds again (a build that runs pip or
# train.py again is named). Build it yourself with:
# docker build $BUILD_FLAGS -f exercises/04-cache-order.Dockerfile -t ticket-router:ordered exercises/transfer-app
# Stuck? The hints are in exercises/README.md.

FROM python:3.11-slim-bookworm AS builder

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv

ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# BEGIN SOLUTION: the builder's steps, in the order that keeps them cached (the goal is at the top of this file)
# What pip reads, then pip: the slowest step, and the one that changes least often.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
# What the training reads, then the training: reruns when the data or train.py change.
COPY train.py .
COPY data/ data/
RUN python train.py data/tickets.csv model.joblib
# The app: changes most often, so last; nothing runs after it.
COPY serve.py .
# END SOLUTION

FROM python:3.11-slim-bookworm
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
COPY --from=builder /srv/model.joblib /srv/serve.py ./
EXPOSE 8080
CMD ["waitress-serve", "--port=8080", "serve:app"]
