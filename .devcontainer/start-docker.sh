#!/usr/bin/env bash
# The dev container's Docker engine (Docker-in-Docker).
#
#   start-docker.sh COMMAND...   the image's entrypoint: start dockerd in the background, then run COMMAND
#   start-docker.sh --wait       postStartCommand: wait until the engine answers (60 s at most)
#
# dockerd starts here, in the entrypoint, rather than from postStartCommand: the entrypoint runs at
# every start of the container whatever started it (Codespaces, VS Code, the devcontainer CLI, a
# plain `docker start`), and dockerd lives in the container's own process tree instead of being
# left behind by an exec session. postStartCommand only waits, so the editor opens on an engine
# that answers.
set -euo pipefail

log=/var/log/dockerd.log

if [ "${1:-}" = --wait ]; then
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && { echo "[devcontainer] Docker engine $(docker version -f '{{.Server.Version}}') ready"; exit 0; }
        sleep 1
    done
    echo "[devcontainer] dockerd did not answer within 60 s; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
fi

# cgroup v2 (Codespaces' hosts, most current Linux distributions): the container's processes move
# into a child group first, so that dockerd may hand the controllers down to its own containers
# (a cgroup v2 group that holds processes cannot delegate them). From moby's hack/dind, which the
# docker:dind image runs. On cgroup v1 there is nothing to do.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mkdir -p /sys/fs/cgroup/init
    xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control || true
fi

# cgroup v1 with the hierarchies mounted read-only: a container given CAP_SYS_ADMIN but not
# --privileged (for a host that cannot grant every capability, which --privileged asks for).
# dockerd must create its containers' groups below this container's own: remount them read-write.
# Under --privileged they are read-write already and nothing happens.
awk '$3 == "cgroup" && $4 ~ /^ro,/ { print $2 }' /proc/self/mounts | while read -r hierarchy; do
    mount -o remount,bind,rw "$hierarchy" || true
done

if ! pgrep -x dockerd >/dev/null; then
    # A container that was stopped and started again keeps the pid files of the engine it ran
    # before (its /run is no tmpfs): dockerd and containerd would take them for a live engine.
    rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
    # The data root (/var/lib/docker, the default) is a named volume (devcontainer.json's mounts):
    # overlay2, the storage driver, cannot put its layers on the container's own overlay
    # filesystem, and on a volume the images survive a rebuild of this container.
    # setsid: its own session, so no terminal's hang-up reaches it.
    setsid dockerd >>"$log" 2>&1 </dev/null &
fi

exec "$@"
