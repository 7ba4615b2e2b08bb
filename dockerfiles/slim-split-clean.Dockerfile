# Slim, cleaned up the wrong way: slim.Dockerfile's install-then-clean step split into three RUN
# instructions. The final filesystem has no gcc and no apt lists, yet the image ships them: every
# RUN writes a layer, and deleting a file in a later layer only hides it, the bytes stay in the
# layer that added them. Lesson 03 measures that waste. To keep the build short, pip builds only
# wordcount here, the one package that needs the compiler; the rest of the requirements is
# not the point. Build from the repo root:
#   docker build -f dockerfiles/slim-split-clean.Dockerfile -t bert-classifier:slim-split-clean .
# Hadolint rules broken on purpose (the lesson): DL3008 and DL3009 on the compiler line, whose
# packages and lists a later layer deletes: pinning them would buy nothing, and deleting the lists
# right there is the fix the lesson leads to (slim.Dockerfile).

FROM python:3.11-slim-bookworm

WORKDIR /srv

# Only what pip builds here.
COPY app/wordcount/ app/wordcount/

# A classroom's package cache, if your instructor runs one (pip fetches wordcount's build tools).
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST

# Layer 1: the compiler and the package lists, written into this layer for good.
# hadolint ignore=DL3008,DL3009
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev

# Layer 2: wordcount, compiled with the gcc of layer 1.
RUN pip install --no-cache-dir ./app/wordcount

# Layer 3: deletes gcc and the lists from the final filesystem, not from layer 1.
RUN apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/*

# Count the words of the sample text with the compiled extension.
COPY app/sample_data/sample_text.txt app/sample_data/
CMD ["python", "-c", "import sys, wordcount; print(wordcount.count_words(open(sys.argv[1]).read()))", "app/sample_data/sample_text.txt"]
