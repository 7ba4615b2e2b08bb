#!/usr/bin/env bash
# Set up this machine for the workshop and run its main job: build the workshop's images (the
# classic naive, slim and multi-stage, lessons 05 to 07's cache, baked and production, lesson 08's onnx,
# final and final-debug), run each one's batch classification and print their sizes.
#
#   bash workshop/setup.sh            # a learner's machine: Docker running, internet access
#   bash workshop/setup.sh --offline  # air-gapped rooms (and our CI): local bases and model
#
# What it chooses for this machine (the docker client that can build; offline, the local model,
# torch index and model image) goes into .workshop.env at the repository root, which the
# workshop package reads: a new terminal, Jupyter and pytest need nothing exported.
set -euo pipefail
cd "$(dirname "$0")/.."

settings=()
if [ "${1:-}" = "--offline" ]; then
    export WORKSHOP_SHARED=${WORKSHOP_SHARED:-$(cd .. && pwd)/shared}
    export WORKSHOP_MODEL_DIR=${WORKSHOP_MODEL_DIR:-$WORKSHOP_SHARED/models/sst2-minilm-l6}
    if [ ! -f "$WORKSHOP_MODEL_DIR/config.json" ]; then
        echo "[setup] no model at $WORKSHOP_MODEL_DIR (no config.json): put the shared folder beside this" \
             "repository, or set WORKSHOP_SHARED or WORKSHOP_MODEL_DIR to where it is." >&2
        exit 1
    fi
    export HF_HUB_OFFLINE=1
    # The images' downloads: torch's CPU index and the Hub, stood in for by offline.sh.
    export WORKSHOP_TORCH_INDEX_URL=${WORKSHOP_TORCH_INDEX_URL:-http://127.0.0.1:${WORKSHOP_INDEX_PORT:-8765}/simple}
    export WORKSHOP_MODEL_IMAGE=${WORKSHOP_MODEL_IMAGE:-workshop-model:local}
    bash workshop/offline.sh
    settings+=("WORKSHOP_SHARED=$WORKSHOP_SHARED" "WORKSHOP_MODEL_DIR=$WORKSHOP_MODEL_DIR" "HF_HUB_OFFLINE=1"
               "WORKSHOP_TORCH_INDEX_URL=$WORKSHOP_TORCH_INDEX_URL" "WORKSHOP_MODEL_IMAGE=$WORKSHOP_MODEL_IMAGE"
               "WORKSHOP_BUILD_NETWORK=host")
fi
# Kept for every later terminal when set now: the room's package cache, and another engine than
# the default socket's (DOCKER_HOST: workshop/current-engine.sh's, a remote or rootless one) with a
# cache of its own, so that figures of two engines never mix.
for name in WORKSHOP_PACKAGE_CACHE DOCKER_HOST WORKSHOP_CACHE_DIR; do
    [ -n "${!name:-}" ] && settings+=("$name=${!name}")
done

# The workshop's own packages: torch first, on its own, from PyTorch's CPU index or its local
# stand-in (README, "Installing torch": PyPI's torch for Linux is the CUDA build); then every other
# package at the version and with the file hashes requirements.lock records (python -m workshop
# lock); then, with nothing more to resolve, the helper package in place (so `import workshop`
# works from any folder) and the app's C extension (the notebooks run the app locally too): pip's
# hash mode takes no folders.
torch_index=$(python -c "from workshop.classroom import torch_index; print(torch_index())")
python -m pip install -q --no-deps --index-url "$torch_index" -r app/torch-requirements.txt
python -m pip install -q --require-hashes -r requirements.lock
python -m pip install -q --no-deps ./app/wordcount -e .

# A docker client that can build: a newer client without the buildx plugin cannot (one-line
# notice on stderr when another client is used instead).
docker_cli=$(WORKSHOP_SETTINGS="" python -m workshop.dockercli)
[ "$docker_cli" != docker ] && settings+=("WORKSHOP_DOCKER=$docker_cli")

# WORKSHOP_SETTINGS names another file (a second engine's settings beside the first's).
settings_file=${WORKSHOP_SETTINGS:-.workshop.env}
{
    echo "# This machine's workshop settings, written by workshop/setup.sh on $(date -u +%Y-%m-%d)."
    echo "# Read by the workshop package (workshop/config.py); a variable set in the environment wins."
    printf '%s\n' "${settings[@]}"
} >"$settings_file"
echo "[setup] settings recorded in $settings_file:" >&2
grep -v '^#' "$settings_file" | sed 's/^/[setup]   /' >&2

python -m workshop build all --jobs 2
