# Exercise 03-fix-slim: build a C extension that links a system library, on slim, and leave no
# compiler behind.
#
# Lesson 03 compiled wordcount, which needs only a compiler. exercises/yamlstats/ (read its
# README.md) is another C extension: it links libyaml, a library of its own. Goal: the build
# succeeds on python:3.11-slim-bookworm, the image runs `python -m yamlstats` on the sample, and
# neither the final filesystem nor any layer holds gcc or libyaml's headers.
#
# Checked from the repository root by `python -m workshop check 03-fix-slim`: it builds this
# file with exercises/yamlstats/ as the build context, imports yamlstats in the image, looks for
# gcc and yaml.h in the image and for gcc in every layer, and runs the image's command. Build it yourself
# with: docker build $BUILD_FLAGS -f exercises/03-fix-slim.Dockerfile -t yamlstats:slim exercises/yamlstats
# Stuck? The hints are in exercises/README.md.

FROM python:3.11-slim-bookworm

WORKDIR /src
COPY . .

# A classroom package cache, if there is one (as in the lessons' Dockerfiles).
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# YOUR CODE HERE: the install step (the goal is at the top of this file)

CMD ["python", "-m", "yamlstats", "samples/training.yaml"]
