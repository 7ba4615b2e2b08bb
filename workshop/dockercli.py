"""Which docker client can build on this machine.

Docker clients from version 23 on build with BuildKit through the buildx plugin; a client without
that plugin fails every build at once ("BuildKit is enabled but the buildx component is missing
or broken"). Clients before 23 (Debian 12's docker.io is 20.10) run BuildKit themselves. A machine
can have both, the newer one first on PATH: then builds must use the other.

    python -m workshop.dockercli    # prints the client to build with; a notice on stderr if it is not `docker`

workshop/setup.sh records the answer in the settings file (WORKSHOP_DOCKER), so the notebooks,
the tests and `python -m workshop build` use it in any terminal.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from workshop import config

#: The first client version whose `docker build` needs the buildx plugin for BuildKit.
BUILDX_REQUIRED_FROM = 23
#: Where distributions install a client when another one shadows it on PATH.
WELL_KNOWN = ("/usr/bin/docker", "/usr/local/bin/docker")

_VERSION = re.compile(r"Docker version (\d+)\.(\d+)")


@dataclass(frozen=True)
class Client:
    path: str
    major: int | None  # None: the client did not say its version
    has_buildx: bool

    @property
    def can_build(self) -> bool:
        """BuildKit works: through buildx, or built into a client older than 23."""
        return self.has_buildx or (self.major is not None and self.major < BUILDX_REQUIRED_FROM)


def inspect(path: str) -> Client | None:
    """What the client at `path` is, or None if it does not run."""
    try:
        version = _run(path, "--version")
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.search(version.stdout)
    try:
        buildx = _run(path, "buildx", "version").returncode == 0
    except (OSError, subprocess.SubprocessError):
        buildx = False
    return Client(path, int(m[1]) if m else None, buildx)


def candidates(name: str = "docker") -> list[str]:
    """Every `name` on PATH, in PATH order, then the well-known places; each real file once."""
    found = [shutil.which(name, path=d) for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    seen, paths = set(), []
    for path in [*found, *WELL_KNOWN]:
        if path and os.path.isfile(path) and (real := os.path.realpath(path)) not in seen:
            seen.add(real)
            paths.append(path)
    return paths


def choose(preferred: str = "docker") -> tuple[str, str | None]:
    """The client to build with, and a one-line notice when it is not `preferred`.

    `preferred` wins whenever it can build; otherwise the first other client that can. If none
    can, `preferred` stays, with a notice that says how to fix it.
    """
    first = shutil.which(preferred) or preferred
    clients = [c for path in [first, *candidates()] if (c := inspect(path)) is not None]
    if clients and clients[0].can_build:
        return preferred, None
    builder = next((c for c in clients if c.can_build), None)
    if builder is None:
        return preferred, (f"notice: `{preferred}` cannot build with BuildKit (no buildx plugin) and no other "
                           "docker client here can: install the buildx plugin (package docker-buildx-plugin "
                           "or docker-buildx), or Docker Desktop.")
    return builder.path, (f"notice: {first} has no buildx plugin, so its builds fail; the workshop builds with "
                          f"{builder.path} (Docker {builder.major}), which runs BuildKit itself.")


def _run(path: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=30, check=False)


def main() -> int:
    path, notice = choose(config.DOCKER_CLI)
    if notice:
        print(notice, file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
