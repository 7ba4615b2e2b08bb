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

# YOUR CODE HERE: your Dockerfile (the goal is at the top of this file)
