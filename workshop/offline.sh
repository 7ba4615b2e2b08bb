#!/usr/bin/env bash
# Prepare a machine with no registry access for the workshop (our CI, air-gapped classrooms).
#
#   1. Install the Docker engine from Debian's packages if it is missing, and start it.
#   2. Make stand-ins for debian:bookworm-slim, python:3.11-slim and python:3.11 from Debian's
#      packages (debootstrap + docker import), so the workshop's Dockerfiles build unchanged.
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

# The recipe hash goes into a label, so a changed recipe rebuilds and an unchanged one is kept.
# It covers what makes the images (these functions, the package list, the CA), not the whole file.
recipe_hash() {
    { declare -f build_debian_slim build_python; echo "$BUILDPACK_DEPS $MIRROR $SUITE"; cat "$HOST_CA"; } |
        sha256sum | cut -c1-16
}

have_image() {
    [ "${FORCE:-0}" != 1 ] &&
        [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "workshop.recipe" }}' "$1" 2>/dev/null)" = "$RECIPE" ]
}

build_debian_slim() {
    local tag=debian:bookworm-slim
    if have_image "$tag"; then log "$tag is up to date"; return; fi
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
        "$DOCKER" import --change 'CMD ["bash"]' --change "LABEL workshop.recipe=$RECIPE" \
            --change 'LABEL workshop.stand-in="debootstrap minbase bookworm"' - "$tag" >/dev/null
    rm -rf "$root"
    log "built $tag"
}

# Both Python stand-ins share one Dockerfile; the full image adds what buildpack-deps ships.
build_python() {
    local tag=$1 extra=$2
    if have_image "$tag"; then log "$tag is up to date"; return; fi
    local ctx
    ctx=$(mktemp -d)
    cp "$HOST_CA" "$ctx/proxy-ca.crt"
    cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
ARG EXTRA_PACKAGES=""
ARG RECIPE
# Debian's Python 3.11 with pip and venv; python and pip on PATH like the official images.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-pip python3-venv python-is-python3 $EXTRA_PACKAGES \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
 && ln -s /usr/bin/pip3 /usr/local/bin/pip
# Under another name, because ca-certificates regenerates the standard bundle.
COPY proxy-ca.crt /usr/local/share/workshop/proxy-ca.crt
# pip caches downloads only from https or a trusted host: trusting loopback lets the local torch
# index (plain http) fill pip's cache, as https://download.pytorch.org does.
ENV PIP_CERT=/usr/local/share/workshop/proxy-ca.crt \
    PIP_TRUSTED_HOST=127.0.0.1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8
LABEL workshop.recipe=$RECIPE workshop.stand-in="Debian python3 on debian:bookworm-slim"
CMD ["python3"]
DOCKERFILE
    log "building $tag"
    "$DOCKER" build --network=host -q --build-arg "EXTRA_PACKAGES=$extra" --build-arg "RECIPE=$RECIPE" \
        -t "$tag" "$ctx" >/dev/null
    rm -rf "$ctx"
    log "built $tag"
}

# What buildpack-deps:bookworm (the base of the official python:3.11) adds: compilers,
# version control, and the -dev libraries most source builds want.
BUILDPACK_DEPS="autoconf automake bzip2 curl default-libmysqlclient-dev dpkg-dev file g++ gcc git
 imagemagick libbz2-dev libc6-dev libcurl4-openssl-dev libdb-dev libevent-dev libffi-dev
 libgdbm-dev libglib2.0-dev libgmp-dev libjpeg-dev libkrb5-dev liblzma-dev libmagickcore-dev
 libmagickwand-dev libmaxminddb-dev libncurses-dev libpng-dev libpq-dev libreadline-dev
 libsqlite3-dev libssl-dev libtool libwebp-dev libxml2-dev libxslt1-dev libyaml-dev make
 mercurial openssh-client patch procps python3-dev subversion unzip wget xz-utils zlib1g-dev"

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
RECIPE=$(recipe_hash)
build_debian_slim
build_python python:3.11-slim ""
build_python python:3.11 "$(echo $BUILDPACK_DEPS)"
# The stand-ins are bookworm: the tag that pins that release names the same image.
"$DOCKER" tag python:3.11 python:3.11-bookworm
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^(debian:bookworm-slim|python:3.11(-slim|-bookworm)?) ' >&2
torch_index
model_image
