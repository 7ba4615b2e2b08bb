#!/usr/bin/env bash
# A current Docker engine beside Debian 12's 20.10, the one learners have: dockerd 28 with
# containerd 2 and the containerd image store (Docker Desktop's default for new installs since
# 4.34, Docker Engine 29's too), the docker 28 client and the buildx plugin.
#
#   bash workshop/current-engine.sh start   # install if missing, start; prints DOCKER_HOST=...
#   bash workshop/current-engine.sh env     # the settings a test run on it needs (KEY=VALUE)
#   bash workshop/current-engine.sh stop
#   bash workshop/current-engine.sh clean   # stop, then delete its images and build cache
#
# Everything comes from Debian's packages: Debian 12 has no such engine, its development suite
# (sid) does, so `debootstrap` unpacks sid's docker.io, docker-cli, docker-buildx and containerd
# into a folder of their own (about a minute, 474 MB), and their binaries run from there on this
# machine: they need no newer C library than Debian 12's, except runc, for which the host's
# runc (Debian 12's, 1.1) stands in. The engine has its own data root, socket, bridge and cgroup
# parent, so the 20.10 engine and its images are left alone; host paths are the same for both,
# so bind mounts and build contexts need nothing special.
#
# How to run the workshop's tests on this engine, or on your own (any DOCKER_HOST): README,
# "Engines we test on".
set -euo pipefail

BASE=${WORKSHOP_ENGINE_DIR:-/var/lib/workshop-engine}
ROOT=$BASE/root          # sid's packages, unpacked
BIN=$BASE/bin            # what the engine runs, first on its PATH; `docker` here is its client
DATA=$BASE/data          # images, containers, build cache (the containerd store is under it)
RUNDIR=${WORKSHOP_ENGINE_RUN:-/run/workshop-engine}   # socket, pid file, exec root
SOCKET=$RUNDIR/docker.sock
# A bridge of its own, made here: dockerd would otherwise take docker0 from the 20.10 engine.
BRIDGE=${WORKSHOP_ENGINE_BRIDGE:-wsbr0}
BRIDGE_ADDR=172.29.0.1/24
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=docker.io,docker-cli,docker-buildx,containerd,iptables,ca-certificates

log() { printf '[current-engine] %s\n' "$*" >&2; }

install_root() {
    [ -x "$ROOT/usr/sbin/dockerd" ] && [ -x "$ROOT/usr/bin/docker" ] && return
    command -v debootstrap >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    log "debootstrap sid with $PACKAGES (about a minute)"
    rm -rf "$ROOT.tmp"
    mkdir -p "$BASE"
    debootstrap --variant=minbase --include="$PACKAGES" sid "$ROOT.tmp" "$MIRROR" >"$BASE/debootstrap.log" 2>&1 || {
        tail -n 20 "$BASE/debootstrap.log" >&2
        exit 1
    }
    # Only the binaries are used: no package lists or downloads to keep.
    rm -rf "$ROOT.tmp"/var/cache/apt/archives/*.deb "$ROOT.tmp"/var/lib/apt/lists/*
    mv "$ROOT.tmp" "$ROOT"
}

make_bin() {
    mkdir -p "$BIN" "$BASE/client/cli-plugins"
    local name
    for name in dockerd docker-proxy; do ln -sfn "$ROOT/usr/sbin/$name" "$BIN/$name"; done
    for name in containerd containerd-shim-runc-v2 ctr docker-init; do ln -sfn "$ROOT/usr/bin/$name" "$BIN/$name"; done
    # sid's runc needs glibc 2.38; Debian 12's runs the same OCI runtime spec.
    ln -sfn "$(command -v runc || echo /usr/sbin/runc)" "$BIN/runc"
    ln -sfn "$ROOT/usr/libexec/docker/cli-plugins/docker-buildx" "$BASE/client/cli-plugins/docker-buildx"
    # The client: sid's docker CLI with its buildx plugin (found through DOCKER_CONFIG), talking
    # to this engine unless DOCKER_HOST says otherwise.
    cat >"$BIN/docker" <<SH
#!/bin/sh
export DOCKER_HOST="\${DOCKER_HOST:-unix://$SOCKET}" DOCKER_CONFIG="$BASE/client"
exec "$ROOT/usr/bin/docker" "\$@"
SH
    chmod +x "$BIN/docker"
}

running() { [ -S "$SOCKET" ] && "$BIN/docker" -H "unix://$SOCKET" info >/dev/null 2>&1; }

start() {
    install_root
    make_bin
    if running; then
        echo "DOCKER_HOST=unix://$SOCKET"
        return
    fi
    command -v runc >/dev/null || [ -x /usr/sbin/runc ] || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null
    }
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
        ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
    fi
    ip link set "$BRIDGE" up
    mkdir -p "$DATA" "$RUNDIR"
    cat >"$BASE/daemon.json" <<'JSON'
{"features": {"containerd-snapshotter": true}}
JSON
    log "starting dockerd (log: $BASE/dockerd.log)"
    # No iptables: the host's rules belong to the 20.10 engine. Published ports still work on
    # this machine through docker-proxy; builds use the host's network (--network=host).
    PATH="$BIN:$PATH" nohup setsid dockerd --config-file "$BASE/daemon.json" --data-root "$DATA" \
        --exec-root "$RUNDIR/exec" --pidfile "$RUNDIR/dockerd.pid" --host "unix://$SOCKET" \
        --bridge "$BRIDGE" --iptables=false --ip6tables=false --cgroup-parent workshop-engine \
        >"$BASE/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 60); do
        running && break
        sleep 1
    done
    running || { log "dockerd did not come up:"; tail -n 20 "$BASE/dockerd.log" >&2; exit 1; }
    log "$("$BIN/docker" version --format 'dockerd {{.Server.Version}}, client {{.Client.Version}}'), " \
        "$("$BIN/docker" info --format '{{range .DriverStatus}}{{if eq (index . 0) "driver-type"}}{{index . 1}}{{end}}{{end}}')"
    echo "DOCKER_HOST=unix://$SOCKET"
}

stop() {
    local pid
    pid=$(cat "$RUNDIR/dockerd.pid" 2>/dev/null) || return 0
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    # containerd outlives a dockerd killed hard; its shims hold no container after a clean stop.
    pkill -f "containerd --config $RUNDIR/exec" 2>/dev/null || true
    ip link delete "$BRIDGE" 2>/dev/null || true
    rm -f "$RUNDIR/dockerd.pid"
    log "stopped"
}

clean() {
    stop
    # Mounts the engine left (overlay snapshots, the exec root's netns files) before the delete.
    grep -oE " ($DATA|$RUNDIR)[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$DATA" "$RUNDIR"
    log "deleted its images, containers and build cache ($DATA); sid's packages stay in $ROOT"
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    clean) clean ;;
    env)
        echo "DOCKER_HOST=unix://$SOCKET"
        echo "WORKSHOP_DOCKER=$BIN/docker"
        ;;
    *) echo "usage: bash workshop/current-engine.sh [start|stop|clean|env]" >&2; exit 2 ;;
esac
