# Slim, first try: naive.Dockerfile with only the base image changed. THIS BUILD FAILS:
# python:3.11-slim-bookworm has no C compiler, so pip cannot build ./app/wordcount:
#   error: [Errno 2] No such file or directory: 'x86_64-linux-gnu-gcc'
#   ERROR: Failed building wheel for wordcount
# slim.Dockerfile is the fix. Build from the repo root:
#   docker build -f dockerfiles/slim-no-compiler.Dockerfile -t bert-classifier:slim-no-compiler .
# Hadolint rules broken on purpose (the lesson): DL3008, DL3009, DL3015 on the apt line.

# Same Python, without compilers, -dev libraries and version control.
FROM python:3.11-slim-bookworm

# The repo's app/ ends up at /srv/app.
WORKDIR /srv

# curl "in case we need it": unpinned, with recommended extras, apt's lists left in the layer.
# hadolint ignore=DL3008,DL3009,DL3015
RUN apt-get update && apt-get install -y curl

# The whole build context (notebooks, tests, workshop code...), before the install: editing
# any file in the repo invalidates the cache and reinstalls every package.
COPY . .

# torch from PyTorch's CPU-only wheel index: PyPI's torch for Linux x86_64 is the CUDA build,
# gigabytes of nvidia-* libraries a CPU never loads (arm64 gets the same CPU build from it).
# Two installs, one index each: torch alone from that index (--index-url, --no-deps), then the
# rest from PyPI, torch's own dependencies too. One install with --extra-index-url would search
# both indexes for every package and take the highest version found on either, so a package
# planted under a name you use, on either index, would win (pip's docs: dependency confusion).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# A classroom's package cache, if your instructor runs one: plain http on the room's network,
# so pip must be told to trust its host. Unset, pip asks PyPI.
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# App and dev tools alike (jupyter, pytest, black...); wordcount needs gcc, which slim lacks.
# torch alone, then the rest from the image's lock, hash-checked (naive.Dockerfile says why), then
# wordcount, a folder, which hash mode does not take.
RUN pip install --no-cache-dir --no-deps --index-url "$TORCH_INDEX_URL" -r app/torch-requirements.txt \
    && pip install --no-cache-dir --require-hashes -r app/requirements.lock \
    && pip install --no-cache-dir ./app/wordcount

# Classify the sample file once and exit.
CMD ["python", "app/predictor.py", "app/sample_data/sample_text.txt"]
