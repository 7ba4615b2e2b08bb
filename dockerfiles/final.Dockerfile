# Final: onnx.Dockerfile's app on a distroless runtime. Its filesystem is Debian's Python and the
# shared libraries it loads, unpacked from Debian packages onto an empty image: no shell, no
# package manager, no pip. (Google's distroless Python image for Debian 12 is no longer
# maintained, so we assemble our own the same way.) Build from the repo root:
#   docker build -f dockerfiles/final.Dockerfile -t bert-classifier:final .
#   docker build -f dockerfiles/final.Dockerfile --target debug -t bert-classifier:final-debug .
#   docker run --rm bert-classifier:final                                  # the batch run
#   docker run --rm -p 8080:8080 --read-only bert-classifier:final serve   # the API
#   docker run --rm -it --entrypoint sh bert-classifier:final-debug        # a busybox shell
# Build args as for onnx.Dockerfile. Checked by container-structure-test: dockerfiles/final.cst.yaml.
# Hadolint: one rule broken on purpose, SC2046, as in onnx.Dockerfile.

ARG MODEL_SOURCE=model-from-hub

# Exporter, model and export: as in onnx.Dockerfile (same lines, so the same cached layers).
FROM python:3.11-bookworm AS exporter
RUN python -m venv /opt/export
ENV PATH=/opt/export/bin:$PATH
WORKDIR /srv
COPY app/export-requirements.lock app/torch-requirements.txt app/
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# torch alone, then the exporter's lock, hash-checked (naive.Dockerfile says why).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --index-url "$TORCH_INDEX_URL" -r app/torch-requirements.txt \
    && pip install --require-hashes -r app/export-requirements.lock

FROM exporter AS model-from-hub
ARG MODEL_ID=distilbert-base-uncased-finetuned-sst-2-english
# A commit of the model's repository on the Hub, not its main branch: every build gets the same
# files, whatever is pushed there later (transformers' own default for this pipeline pins it too).
ARG MODEL_REVISION=714eb0fa89d2f80546fda750413ed43d93601a13
# The weights, the tokenizer and config files, and README.md: the model card (licence, training
# data, limitations) travels with the model.
RUN python -c "import sys; from huggingface_hub import snapshot_download; \
snapshot_download(sys.argv[1], revision=sys.argv[2], local_dir='/model', \
                  allow_patterns=['*.json', '*.txt', 'model.safetensors', 'README.md'])" \
    "$MODEL_ID" "$MODEL_REVISION"

FROM ${MODEL_SOURCE} AS model

FROM exporter AS onnx-model
COPY --from=model /model /model
COPY app/export_onnx.py app/
ARG QUANTIZE=""
RUN python app/export_onnx.py /model /onnx ${QUANTIZE:+--$QUANTIZE}

# The runtime's venv, pruned: as in onnx.Dockerfile, then slimmed further for a runtime (below).
# On bookworm, as the rootfs below: the venv's compiled code must load with its C library.
FROM python:3.11-bookworm AS venv
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
COPY app/onnx-requirements.lock app/
COPY app/wordcount/ app/wordcount/
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
# numpy from its source, without a BLAS library: the wheel brings OpenBLAS (28 MB in numpy.libs)
# for matrix algebra, and the app's numpy only holds arrays and takes a softmax. Compiling it takes
# a few minutes, once: pip's cache (the mount) keeps the wheel it builds for later builds (pip 23.1
# or newer; the venv's pip is the one its Python bundles). The lock holds numpy's source archive's
# hash too; the build tools pip fetches to compile it are not hash-checked (pip's hash mode does
# not reach build dependencies). Then wordcount, a folder.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-binary numpy --config-settings=setup-args=-Dallow-noblas=true \
        --config-settings=setup-args=-Dblas=none --config-settings=setup-args=-Dlapack=none \
        --require-hashes -r app/onnx-requirements.lock \
    && pip install ./app/wordcount

FROM venv AS pruned-venv
WORKDIR /opt/venv/lib/python3.11/site-packages
# hadolint ignore=SC2046
RUN --mount=type=bind,source=dockerfiles/onnx.prune,target=/tmp/onnx.prune \
    pip uninstall -y pip setuptools \
    && rm -rf $(sed -E -e '/^#/d' -e 's/ {2,}.*//' /tmp/onnx.prune)
# What only a developer's machine reads: debugging symbols (strip), type stubs (.pyi), and the
# Python sources once compiled. `compileall -b` writes each module's .pyc beside it, where Python
# loads it when the .py is gone; tracebacks keep file names and line numbers, not the lines.
RUN set -eux; \
    find . -name '*.so*' -type f -exec strip --strip-unneeded {} +; \
    python -m compileall -b -q .; \
    find . \( -name '*.py' -o -name '*.pyi' \) ! -type d -delete; \
    find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The runtime's whole filesystem, in /rootfs: Debian's python3.11 and the libraries it and the
# venv's extensions load. `apt-get download` fetches the packages and `dpkg-deb --extract`
# unpacks them: no maintainer scripts, nothing that needs a shell later. Instead of dpkg's
# database, one file per package in var/lib/dpkg/status.d/ (its control fields and md5sums, the
# distroless convention): what vulnerability scanners and SBOM tools read to know what is inside.
FROM debian:bookworm-slim AS rootfs
WORKDIR /debs
# Python's own dependencies, without the interactive ones (readline, ncurses), sqlite, dbm and
# time zones (the app logs in UTC); libstdc++6 and libgcc-s1 for onnxruntime and tokenizers.
# Versions are the ones bookworm has today: the rootfs takes Debian's security updates (since
# 2026-06 those of Debian LTS, for a subset of packages: README, "Offline mode", on bookworm).
RUN set -eux; \
    apt-get update; \
    apt-get download \
        libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libffi8 libexpat1 libbz2-1.0 liblzma5 \
        libuuid1 libcrypt1 libpython3.11-minimal libpython3.11-stdlib python3.11-minimal \
        netbase media-types \
    ; \
    mkdir -p /rootfs/var/lib/dpkg/status.d; \
    for deb in *.deb; do \
        dpkg-deb --extract "$deb" /rootfs; \
        package=$(dpkg-deb --field "$deb" Package); \
        dpkg-deb --field "$deb" > "/rootfs/var/lib/dpkg/status.d/$package"; \
        dpkg-deb --control "$deb" "$package.control"; \
        cp "$package.control/md5sums" "/rootfs/var/lib/dpkg/status.d/$package.md5sums"; \
    done; \
    cp /etc/os-release /rootfs/etc/os-release; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /rootfs
# What a container never reads: documentation (but each package's copyright file: the licences
# the image is shipped under), glibc's character-set converters (iconv; Python has its own
# codecs), libstdc++'s helpers for the gdb debugger, the standard library's help texts, test
# support (modules and extensions) and 2to3, and the modules for the libraries left out above
# (sqlite, curses, readline, dbm, NIS): they cannot load here. Then the few files an image needs:
# python3 on PATH, the users and their lookup order, a /tmp anyone may write to.
RUN set -eux; \
    find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete; \
    rm -rf usr/share/man usr/share/info usr/share/lintian usr/lib/*-linux-gnu/gconv \
        usr/share/gcc usr/share/gdb \
        usr/lib/python3.11/pydoc_data usr/lib/python3.11/test usr/lib/python3.11/lib2to3 \
        usr/lib/python3.11/sqlite3 usr/lib/python3.11/curses; \
    for module in _test _ctypes_test _xxtestfuzz xxlimited _sqlite3 _curses readline _dbm nis; do \
        rm -f usr/lib/python3.11/lib-dynload/"$module"*.so; \
    done; \
    ln -s python3.11 usr/bin/python3; \
    mkdir -p etc tmp; \
    chmod 1777 tmp; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:10001:10001:app:/nonexistent:/sbin/nologin\n' > etc/passwd; \
    printf 'root:x:0:\napp:x:10001:\n' > etc/group; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > etc/nsswitch.conf
# Debian compiles the standard library to .pyc when it installs python3.11; unpacking skips that,
# so do it here with the rootfs' own python (without them every start would compile what it
# imports: most of a second). Beside each module (-b), so that its source can go, as in the venv.
RUN chroot /rootfs /usr/bin/python3.11 -m compileall -b -q /usr/lib/python3.11 \
    && find usr/lib/python3.11 -name '*.py' ! -type d -delete \
    && find usr/lib/python3.11 -name __pycache__ -type d -prune -exec rm -rf {} +

# A shell for the debug variant: busybox's static build, with a link for each of its commands.
FROM debian:bookworm-slim AS busybox
WORKDIR /debs
RUN set -eux; \
    apt-get update; \
    apt-get download busybox-static; \
    dpkg-deb --extract busybox-static_*.deb /unpacked; \
    mkdir /busybox; \
    cp /unpacked/bin/busybox /busybox/; \
    for command in $(/busybox/busybox --list); do [ "$command" = busybox ] || ln -s busybox "/busybox/$command"; done; \
    rm -rf /var/lib/apt/lists/*

# Runtime: nothing but the rootfs, the venv, the model and the app.
FROM scratch AS final

# What the image is, for registries and scanners (OCI annotation keys), and which model it
# answers with under which licence (our own keys; the model card is /opt/model/README.md). The
# model's ARGs have the model stage's defaults; offline rooms pass their local model's.
ARG MODEL_ID=distilbert-base-uncased-finetuned-sst-2-english
ARG MODEL_REVISION=714eb0fa89d2f80546fda750413ed43d93601a13
ARG MODEL_LICENSE=Apache-2.0
LABEL org.opencontainers.image.title="bert-classifier" \
      org.opencontainers.image.description="BERT sentiment classifier on ONNX Runtime, distroless: batch run and HTTP API (gunicorn)" \
      org.opencontainers.image.base.name="scratch" \
      workshop.model.id="$MODEL_ID" \
      workshop.model.revision="$MODEL_REVISION" \
      workshop.model.license="$MODEL_LICENSE"

COPY --from=rootfs /rootfs /
# The venv's packages, on Debian's interpreter: its bin/python links to the builder's python,
# which is not here, so python3 finds the packages through PYTHONPATH instead.
COPY --from=pruned-venv /opt/venv/lib/python3.11/site-packages /opt/venv/lib/python3.11/site-packages
COPY --from=onnx-model /onnx /opt/model
ENV PATH=/usr/bin \
    PYTHONPATH=/opt/venv/lib/python3.11/site-packages \
    MODEL_ID=/opt/model \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
# glibc gives each thread that allocates a malloc arena of its own (up to 8 per core) and keeps
# what was freed in it: under 4 minutes of mixed traffic the server grew from 176 to 200 MiB,
# from 171 to 181 MiB with two arenas (python -m workshop.soak; README, "Serving").
ENV MALLOC_ARENA_MAX=2

WORKDIR /srv/app
COPY app/predictor.py app/server.py app/onnx_classifier.py app/main.py app/gunicorn.conf.py ./
COPY app/sample_data/ sample_data/
# The app's modules compiled here, as the rest: at run time nothing may write them (a read-only
# root, PYTHONDONTWRITEBYTECODE), so every start would compile them again. No shell: exec form.
RUN ["python3", "-m", "compileall", "-q", "/srv/app"]

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

# No shell to run a script: main.py is the entry point. No arguments: the batch run on the
# sample text; `serve`: the API.
ENTRYPOINT ["python3", "main.py"]

# The debug variant: the same image plus busybox's shell and tools in /busybox.
FROM final AS debug
COPY --from=busybox /busybox /busybox
ENV PATH=/usr/bin:/busybox

# Last, so that a build without --target makes the image without a shell.
FROM final
