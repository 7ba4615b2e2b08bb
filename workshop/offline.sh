#!/usr/bin/env bash
# Prepare a machine with no registry access for the workshop (our CI, air-gapped classrooms).
#
#   1. Install the Docker engine from Debian's packages if it is missing, and start it.
#   2. Make stand-ins for debian:bookworm-slim (debootstrap + docker import), python:3.11-bookworm
#      and python:3.11-slim-bookworm (CPython compiled from Debian's source of the release, as the
#      official images are), so the workshop's Dockerfiles build unchanged.
#   3. Stand in for the two downloads of the later chapters: a local package index with the CPU
#      build of torch (for PyTorch's CPU wheel index, https://download.pytorch.org/whl/cpu),
#      served on loopback, and an image holding the local model folder (for the Hub).
#
# Idempotent: an image already built from the same recipe is kept. FORCE=1 rebuilds them.
# On a machine that can reach Docker Hub you do not need this script at all.
set -euo pipefail

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# The Debian client runs BuildKit without the buildx plugin that newer clients insist on.
DOCKER=${WORKSHOP_DOCKER:-/usr/bin/docker}
# Downloads pass a TLS-intercepting proxy here; its CA must reach pip inside builds.
HOST_CA=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
export DOCKER_BUILDKIT=1

log() { printf '[offline] %s\n' "$*" >&2; }

ensure_engine() {
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || [ ! -x /usr/bin/docker ]; then
        log "installing docker.io and debootstrap from Debian's packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
    fi
    if "$DOCKER" info >/dev/null 2>&1; then
        return
    fi
    log "starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 60); do
        "$DOCKER" info >/dev/null 2>&1 && return
        sleep 1
    done
    log "dockerd did not come up; see /var/log/dockerd.log"
    tail -n 20 /var/log/dockerd.log >&2
    exit 1
}

# A recipe hash goes into each stand-in's label, so a changed recipe rebuilds and an unchanged one
# is kept. It covers what makes the image (its function, package list, CA, and the base's own hash).
debian_recipe() {
    { declare -f build_debian_slim; echo "$MIRROR $SUITE"; } | sha256sum | cut -c1-16
}
python_recipe() {
    { declare -f build_pythons; echo "$BUILDPACK_DEPS $MIRROR $PYTHON_VERSION"; debian_recipe; cat "$HOST_CA"; } |
        sha256sum | cut -c1-16
}

have_image() {  # have_image TAG RECIPE
    [ "${FORCE:-0}" != 1 ] &&
        [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "workshop.recipe" }}' "$1" 2>/dev/null)" = "$2" ]
}

# A second engine on this machine (CI's Docker 28 after its Docker 20.10) takes the stand-ins that
# another engine built from the same recipe: WORKSHOP_BASES_FROM names that engine (a DOCKER_HOST).
# `docker save | docker load` takes seconds where compiling Python takes minutes.
copy_image() {  # copy_image TAG RECIPE
    local from=${WORKSHOP_BASES_FROM:-}
    [ -n "$from" ] && [ "${FORCE:-0}" != 1 ] || return 1
    [ "$(DOCKER_HOST=$from /usr/bin/docker image inspect -f '{{ index .Config.Labels "workshop.recipe" }}' "$1" 2>/dev/null)" = "$2" ] ||
        return 1
    log "copying $1 from the engine at $from"
    DOCKER_HOST=$from /usr/bin/docker save "$1" | "$DOCKER" load -q >/dev/null
}

build_debian_slim() {
    local tag=debian:bookworm-slim recipe
    recipe=$(debian_recipe)
    if have_image "$tag" "$recipe" || copy_image "$tag" "$recipe"; then log "$tag is up to date"; return; fi
    local root
    root=$(mktemp -d /var/tmp/bookworm-rootfs.XXXXXX)
    log "debootstrap --variant=minbase $SUITE (about 30 s)"
    debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >/dev/null
    # What the official slim image configures: no docs, man pages or locales from later
    # installs, and apt that cleans its own cache.
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
    echo 'Acquire::GzipIndexes "true"; Acquire::CompressionTypes::Order:: "gz";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'APT::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    printf 'deb %s %s main\ndeb %s %s-updates main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" >"$root/etc/apt/sources.list"
    # Strip what the official image does not ship: downloaded packages, package lists, docs.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
    find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    tar -C "$root" --numeric-owner -c . |
        "$DOCKER" import --change 'CMD ["bash"]' --change "LABEL workshop.recipe=$recipe" \
            --change 'LABEL workshop.stand-in="debootstrap minbase bookworm"' - "$tag" >/dev/null
    rm -rf "$root"
    log "built $tag"
}

# The Python stand-ins, made the way docker-library's python:3.11 images are: CPython compiled
# from python.org's release into /usr/local (Debian's python3.11 source package, whose orig tarball
# is that release: Debian's mirror is reachable here, python.org is not), on buildpack-deps for the
# full image; the slim image gets the same /usr/local and only the libraries it loads. One
# compile serves both (the official recipe compiles twice). Left out: profile-guided and
# link-time optimization (--enable-optimizations --with-lto: the build then runs Python's test
# suite to profile the interpreter), which make the interpreter faster, not its files elsewhere.
PYTHON_VERSION=3.11.2  # the upstream version of bookworm's python3.11 (the compile checks it)
build_pythons() {
    local recipe tag
    recipe=$(python_recipe)
    if { have_image python:3.11-bookworm "$recipe" || copy_image python:3.11-bookworm "$recipe"; } &&
        { have_image python:3.11-slim-bookworm "$recipe" || copy_image python:3.11-slim-bookworm "$recipe"; }; then
        log "python:3.11-bookworm and python:3.11-slim-bookworm are up to date"; return
    fi
    local ctx
    ctx=$(mktemp -d)
    cp "$HOST_CA" "$ctx/proxy-ca.crt"
    cat >"$ctx/Dockerfile" <<'DOCKERFILE'
# Python's source: Debian's python3.11 source package for bookworm (deb-src); its orig tarball is
# python.org's release tarball (Python-3.11.2.tgz), checked against the signed Sources index by apt.
FROM debian:bookworm-slim AS source
ARG MIRROR
RUN printf 'deb-src %s bookworm main\n' "$MIRROR" > /etc/apt/sources.list.d/sources.list \
 && apt-get update \
 && mkdir -p /usr/src/python && cd /usr/src \
 && apt-get source --download-only python3.11/bookworm \
 && tar -xf python3.11_*.orig.tar.* -C python --strip-components=1 \
 && rm -rf python3.11_* /var/lib/apt/lists/*

# What both images set: Python first on PATH, its version, and pip's settings for this machine.
FROM debian:bookworm-slim AS python-env
ARG PYTHON_VERSION
# pip caches downloads only from https or a trusted host: trusting loopback lets the local torch
# index (plain http) fill pip's cache, as https://download.pytorch.org does.
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHON_VERSION=$PYTHON_VERSION \
    PIP_CERT=/usr/local/share/workshop/proxy-ca.crt \
    PIP_TRUSTED_HOST=127.0.0.1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# buildpack-deps:bookworm (the official full image's base), with what its Python build adds.
FROM python-env AS buildpack
ARG BUILDPACK_PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $BUILDPACK_PACKAGES \
 && rm -rf /var/lib/apt/lists/*
# The host's proxy CA (PIP_CERT), under another name, because ca-certificates regenerates the
# standard bundle. In /usr/local, so the slim image gets it with Python.
COPY proxy-ca.crt /usr/local/share/workshop/proxy-ca.crt

# The compile: docker-library's configure flags but the optimizations (above); the rpath lets
# python find libpython3.11.so wherever /usr/local is copied. Then what the official images strip
# (tests, static library, bytecode), the short names (python, pip...), the pip they ship.
FROM buildpack AS compiled
RUN --mount=type=bind,from=source,source=/usr/src/python,target=/usr/src/python,rw \
    set -eux; \
    cd /usr/src/python; \
    ./configure --build="$(dpkg-architecture --query DEB_BUILD_GNU_TYPE)" \
        --enable-loadable-sqlite-extensions --enable-option-checking=fatal --enable-shared \
        --with-ensurepip >/dev/null; \
    make -s -j "$(nproc)" "LDFLAGS=-Wl,-rpath='\$\$ORIGIN/../lib'" >/dev/null; \
    make -s install >/dev/null; \
    cd /; \
    find /usr/local -depth \( \( -type d -a \( -name test -o -name tests -o -name idle_test \) \) \
        -o \( -type f -a \( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \) \) \) -exec rm -rf '{}' +; \
    ldconfig; \
    for src in idle3 pip3 pydoc3 python3 python3-config; do ln -sT "$src" "/usr/local/bin/$(echo "$src" | tr -d 3)"; done; \
    pip install --no-cache-dir --no-compile pip==24.0 setuptools==65.5.1; \
    find /usr/local -depth -type d -name __pycache__ -exec rm -rf '{}' +; \
    test "$(python --version)" = "Python $PYTHON_VERSION"; \
    # The Debian packages the slim image needs: those whose libraries /usr/local's programs load
    # (as the official slim image finds them; tkinter's Tk left out there too).
    find /usr/local -type f -executable -not -name '*tkinter*' -exec ldd '{}' ';' \
        | awk '/=>/ { so = $(NF-1); if (index(so, "/usr/local/") == 1) next; sub("^/(usr/)?", "", so); print "*" so }' \
        | sort -u | xargs -r dpkg-query --search | cut -d: -f1 | sort -u > /runtime-packages

FROM buildpack AS python-full
ARG RECIPE
COPY --from=compiled /usr/local /usr/local
RUN ldconfig
LABEL workshop.recipe=$RECIPE workshop.stand-in="CPython $PYTHON_VERSION compiled into /usr/local on buildpack-deps:bookworm"
CMD ["python3"]

FROM python-env AS python-slim
ARG RECIPE
RUN --mount=type=bind,from=compiled,source=/runtime-packages,target=/tmp/runtime-packages \
    apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates netbase tzdata $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/*
COPY --from=compiled /usr/local /usr/local
RUN ldconfig && python3 --version
LABEL workshop.recipe=$RECIPE workshop.stand-in="CPython $PYTHON_VERSION compiled into /usr/local on debian:bookworm-slim"
CMD ["python3"]
DOCKERFILE
    local target
    for target in python-full:python:3.11-bookworm python-slim:python:3.11-slim-bookworm; do
        tag=${target#*:}
        log "building $tag (CPython $PYTHON_VERSION compiled once for both: about 5 minutes)"
        "$DOCKER" build --network=host -q --target "${target%%:*}" --build-arg "MIRROR=$MIRROR" --build-arg "PYTHON_VERSION=$PYTHON_VERSION" \
            --build-arg "BUILDPACK_PACKAGES=$(echo $BUILDPACK_DEPS)" --build-arg "RECIPE=$recipe" \
            -t "$tag" "$ctx" >/dev/null
    done
    rm -rf "$ctx"
    log "built python:3.11-bookworm and python:3.11-slim-bookworm"
}

# What buildpack-deps:bookworm (the base of the official python:3.11) has (curl, scm and the
# -dev libraries most source builds want), and what the official image's Python build adds
# (libbluetooth-dev tk-dev uuid-dev).
BUILDPACK_DEPS="autoconf automake bzip2 ca-certificates curl default-libmysqlclient-dev dirmngr dpkg-dev
 file g++ gcc git gnupg imagemagick libbluetooth-dev libbz2-dev libc6-dev libcurl4-openssl-dev libdb-dev
 libevent-dev libffi-dev libgdbm-dev libglib2.0-dev libgmp-dev libjpeg-dev libkrb5-dev liblzma-dev
 libmagickcore-dev libmagickwand-dev libmaxminddb-dev libncurses-dev libpng-dev libpq-dev
 libreadline-dev libsqlite3-dev libssl-dev libtool libwebp-dev libxml2-dev libxslt1-dev libyaml-dev
 make mercurial netbase openssh-client patch procps subversion tk-dev unzip uuid-dev wget xz-utils
 zlib1g-dev"

# Stand-in for PyTorch's CPU wheel index: a PEP 503 "simple" index on loopback holding
# `pip download torch==2.13.0` (the CPU build on this machine). Builds run with
# --network=host, so pip inside them reaches it at 127.0.0.1; pip trusts loopback over http.
TORCH_VERSION=2.13.0
WHEELHOUSE=${WORKSHOP_WHEELHOUSE:-/var/tmp/workshop-wheelhouse}
INDEX_PORT=${WORKSHOP_INDEX_PORT:-8765}
index_answers() {  # with caching headers (the server of an older version of this script sent none)
    python3 -c "import sys, urllib.request
sys.exit(not urllib.request.urlopen('http://127.0.0.1:$INDEX_PORT/simple/torch/index.html', timeout=2).headers['ETag'])" \
        2>/dev/null
}
torch_index() {
    local dir=$WHEELHOUSE/simple/torch
    mkdir -p "$dir"
    if ! compgen -G "$dir/torch-$TORCH_VERSION*.whl" >/dev/null; then
        log "pip download torch==$TORCH_VERSION (the local CPU wheel)"
        python3 -m pip download -q "torch==$TORCH_VERSION" --no-deps --only-binary=:all: -d "$dir"
    fi
    local wheel
    wheel=$(basename "$(compgen -G "$dir/torch-$TORCH_VERSION*.whl" | head -n 1)")
    case $wheel in *+cpu*) ;; *) log "warning: $wheel is not a CPU build; the CPU chapters will show CUDA sizes" ;; esac
    printf '<!DOCTYPE html>\n<a href="%s#sha256=%s">%s</a>\n' \
        "${wheel//+/%2B}" "$(sha256sum "$dir/$wheel" | cut -d' ' -f1)" "$wheel" >"$dir/index.html"
    printf '<!DOCTYPE html>\n<a href="torch/">torch</a>\n' >"$WHEELHOUSE/simple/index.html"
    if ! index_answers; then
        pkill -f "http.server $INDEX_PORT" || true  # an older server without ETags holds the port
        log "serving $WHEELHOUSE on http://127.0.0.1:$INDEX_PORT/simple"
        # http.server plus the caching headers a real package host sends (files.pythonhosted.org:
        # a year's max-age): pip keeps a download in its cache only when the response allows it,
        # so without them the torch wheel would come again at every install, cache mount or not.
        nohup python3 - "$INDEX_PORT" "$WHEELHOUSE" >/var/tmp/workshop-index.log 2>&1 <<'PY' &
import functools, http.server, os, sys

class Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        path = self.translate_path(self.path)
        if os.path.isfile(path):
            info = os.stat(path)
            self.send_header("ETag", f'"{info.st_mtime_ns:x}-{info.st_size:x}"')
            if path.endswith(".whl"):  # a released file never changes
                self.send_header("Cache-Control", "max-age=31536000, immutable")
        super().end_headers()

handler = functools.partial(Handler, directory=sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
PY
        for _ in $(seq 20); do
            index_answers && break
            sleep 0.5
        done
    fi
    log "torch index: http://127.0.0.1:$INDEX_PORT/simple ($wheel)"
}

# Stand-in for the Hub download in the builder: the local model folder as an image, which a
# Dockerfile names in FROM (build arg MODEL_SOURCE). Rebuilt each time; BuildKit caches it.
MODEL_IMAGE=${WORKSHOP_MODEL_IMAGE:-workshop-model:local}
model_image() {
    local model_dir=${WORKSHOP_MODEL_DIR:-}
    if [ -z "$model_dir" ] || [ ! -f "$model_dir/config.json" ]; then
        log "no WORKSHOP_MODEL_DIR with a config.json: skipping $MODEL_IMAGE"
        return
    fi
    printf 'FROM scratch\nCOPY . /model/\n' |
        "$DOCKER" build -q -f - -t "$MODEL_IMAGE" --label workshop.stand-in="model folder $model_dir" \
            "$model_dir" >/dev/null
    log "model image: $MODEL_IMAGE (from $model_dir)"
}

ensure_engine
build_debian_slim
build_pythons
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^(debian:bookworm-slim|python:3.11-(slim-)?bookworm) ' >&2
torch_index
model_image
