#!/usr/bin/env bash
# Set up this machine for the workshop and run its main job: build the three classic images
# (naive, slim, multi-stage), run each one's batch classification and print their sizes.
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
    bash workshop/offline.sh
fi

# The workshop's own packages, and the app's C extension (the notebooks run the app locally too).
python -m pip install -q -r requirements.txt ./app/wordcount
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} python -m workshop build naive slim multistage
