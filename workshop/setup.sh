#!/usr/bin/env bash
# Set up this machine for the workshop and run its main job: build the workshop's images (the
# classic naive, slim and multi-stage, lesson 05's cpu, baked and production, lesson 06's onnx,
# final and final-debug), run each one's batch classification and print their sizes.
#
#   bash workshop/setup.sh            # a learner's machine: Docker running, internet access
#   bash workshop/setup.sh --offline  # our CI and air-gapped rooms: local bases and model
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--offline" ]; then
    export WORKSHOP_SHARED=${WORKSHOP_SHARED:-$(cd .. && pwd)/shared}
    export WORKSHOP_MODEL_DIR=${WORKSHOP_MODEL_DIR:-$WORKSHOP_SHARED/models/sst2-minilm-l6}
    export WORKSHOP_DOCKER=${WORKSHOP_DOCKER:-/usr/bin/docker}
    export HF_HUB_OFFLINE=1
    # Lesson 05's downloads: torch's CPU index and the Hub, stood in for by offline.sh.
    export WORKSHOP_TORCH_INDEX_URL=${WORKSHOP_TORCH_INDEX_URL:-http://127.0.0.1:${WORKSHOP_INDEX_PORT:-8765}/simple}
    export WORKSHOP_MODEL_IMAGE=${WORKSHOP_MODEL_IMAGE:-workshop-model:local}
    bash workshop/offline.sh
fi

# The workshop's own packages, and the app's C extension (the notebooks run the app locally too).
python -m pip install -q -r requirements.txt ./app/wordcount
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} python -m workshop build naive slim multistage cpu baked production onnx final final-debug
