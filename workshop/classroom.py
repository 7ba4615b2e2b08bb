"""A classroom package cache: the instructor's machine downloads each wheel once, learners install from it.

``python -m workshop cache serve`` runs proxpi (a caching mirror of PyPI) in front of PyPI and
PyTorch's CPU index, merged into one index, ``<cache>/index/``; learners set
``WORKSHOP_PACKAGE_CACHE=http://HOST:5000`` and their builds install from it.
We chose proxpi over devpi-server because a classroom needs only a cache: proxpi is a pure caching
proxy with no uploads, users or index state to set up, runs as one Flask app in one process, and
is configured entirely by environment variables (the PROXPI_* ones below).

``python -m workshop cache prefetch`` (or ``serve --prefetch``) fills the cache the day before:
it downloads, through the cache, every wheel the workshop's images install, for Linux x86_64 and
aarch64 (Intel and Apple Silicon laptops), so that in class nothing waits for the internet.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from workshop import config
from workshop.requirements import LOCKS, TORCH_PIN, folders, source_lines

log = logging.getLogger(__name__)

DEFAULT_PORT = 5000
PYPI_INDEX = f"{config.PYPI_INDEX}/"

#: What the images install (app/): torch, then each lock, at the versions the lock pins.
REQUIREMENT_FILES = tuple(config.REPO_ROOT / name for name in (
    TORCH_PIN, *(entry.path for entry in LOCKS if entry.path.startswith("app/"))))

#: The images run Debian bookworm (glibc 2.36), where pip takes manylinux wheels from glibc 2.17
#: (manylinux2014) up to 2.36. `pip download --platform` does not expand PEP 600 tags: list them.
PLATFORMS = {arch: [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)] + [f"manylinux2014_{arch}"]
             for arch in ("x86_64", "aarch64")}

#: Classroom defaults, each overridable by setting the PROXPI_* variable. A workshop day needs no
#: fresher listings than this (every requirement is pinned), and one slow download must not send
#: a learner's pip to the internet: proxpi redirects a client upstream when a download it started
#: takes longer than PROXPI_DOWNLOAD_TIMEOUT (0.9 s by default), so wait for it instead.
PROXPI_DEFAULTS = {
    "PROXPI_CACHE_SIZE": str(20 * 2**30),
    "PROXPI_INDEX_TTL": str(8 * 3600),
    "PROXPI_EXTRA_INDEX_TTLS": str(8 * 3600),
    "PROXPI_DOWNLOAD_TIMEOUT": "900",
}


def torch_index() -> str:
    """PyTorch's CPU index, or its local stand-in (env WORKSHOP_TORCH_INDEX_URL) offline."""
    return config.LOCAL_TORCH_INDEX or config.TORCH_CPU_INDEX


def server_env(cache_dir: Path, torch_index_url: str | None = None) -> dict[str, str]:
    """The environment proxpi runs in: PyPI as root index, the CPU torch index merged into it."""
    env = dict(os.environ)  # SSL_CERT_FILE & co.: upstream HTTPS may pass through a TLS proxy
    # requests ignores SSL_CERT_FILE; it reads REQUESTS_CA_BUNDLE.
    if env.get("SSL_CERT_FILE") and not env.get("REQUESTS_CA_BUNDLE"):
        env["REQUESTS_CA_BUNDLE"] = env["SSL_CERT_FILE"]
    # proxpi joins project names onto these URLs: without the final slash it would drop "simple".
    env["PROXPI_INDEX_URL"] = PYPI_INDEX
    env["PROXPI_EXTRA_INDEX_URLS"] = (torch_index_url or torch_index()).rstrip("/") + "/"
    env["PROXPI_CACHE_DIR"] = str(cache_dir)
    for key, value in PROXPI_DEFAULTS.items():
        env.setdefault(key, value)
    return env


def server_command(host: str, port: int) -> list[str]:
    """gunicorn with one worker (proxpi keeps its index in memory) and threads for a room of pips."""
    # No control socket: its default path is shared by every gunicorn of this user (the app's too).
    return [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "32", "--no-control-socket",
            "--bind", f"{host}:{port}", "proxpi.server:app"]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Return once `url`/health answers; RuntimeError if the server exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the cache server exited with code {process.returncode} (see its log above); "
                               "is the port already in use? Pick another with --port.")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the cache server did not answer at {url}/health within {timeout:.0f} s; see its log above.")


def lan_address() -> str:
    """This machine's address on the room's network (where its default route leaves), else its hostname."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            # Connecting a UDP socket sends nothing: the kernel only picks the outgoing interface.
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1, a documentation address
            address = probe.getsockname()[0]
    except OSError:
        address = ""
    return address if address and not address.startswith("127.") else socket.gethostname()


def requirements(path: Path) -> list[str]:
    """The requirement lines of `path` (a requirements file or a lock) and of the files it includes,
    without local folders (wordcount is built in the image)."""
    lines = source_lines(path)
    return [line for line in lines if line not in folders(lines)]


def prefetch(cache_url: str, requirement_files=REQUIREMENT_FILES, platforms=None) -> tuple[int, int]:
    """Download every wheel of `requirement_files` through the cache, per platform; (files, bytes)."""
    index = f"{cache_url.rstrip('/')}/index/"
    host = urllib.parse.urlsplit(index).hostname
    if host is None:
        raise ValueError(f"the cache's URL {cache_url!r} has no host name (expected http://HOST:PORT)")
    # Only the cache may serve these downloads: this machine's pip settings (extra indexes,
    # find-links, constraints) must not bypass it, nor may pip's own cache.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    with tempfile.TemporaryDirectory(prefix="workshop-prefetch-") as dest:
        for arch, tags in (platforms or PLATFORMS).items():
            # One download per file, without dependencies, as the images install them: torch alone,
            # then each lock, which has every package its image installs.
            for path in requirement_files:
                log.info("prefetching %s for linux %s through %s", path.name, arch, index)
                command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-cache-dir", "--no-deps",
                           "--dest", dest, "--index-url", index, "--trusted-host", host,
                           "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
                           *(f"--platform={tag}" for tag in tags), *requirements(path)]
                if subprocess.run(command, env=env, check=False).returncode != 0:
                    raise RuntimeError(f"pip could not download {path.name} for {arch} through {index} "
                                       "(see pip's message above); is the cache running and online?")
        files = [f for f in Path(dest).iterdir() if f.is_file()]
        return len(files), sum(f.stat().st_size for f in files)


def serve(host: str, port: int, cache_dir: Path, prefetch_first: bool) -> int:
    """Run the cache until Ctrl-C, after printing the line learners set (and prefetching)."""
    if importlib.util.find_spec("proxpi") is None:
        raise RuntimeError("proxpi is not installed: run `pip install -r requirements.txt` (or proxpi==1.3.1).")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # A SIGTERM (kill, systemd, a test) must stop gunicorn too: turn it into an exit that runs `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    process = subprocess.Popen(server_command(host, port), env=server_env(cache_dir))
    local_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    try:
        wait_until_up(local_url, process)
        log.info("cache on %s: PyPI + %s, files in %s", local_url, torch_index(), cache_dir)
        if prefetch_first:
            _print_prefetch(local_url)
        advertised = lan_address() if host in ("0.0.0.0", "") else host
        print(f"\nLearners run, at the repository's root:\n"
              f"  python -m workshop cache join http://{advertised}:{port}\n", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()


def join(cache_url: str) -> str:
    """Make this machine's builds install through the room's cache: WORKSHOP_PACKAGE_CACHE in the
    settings file, once the cache answers. Return what was done, in a sentence."""
    url = cache_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = f"http://{url}"
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5):
            pass
    except OSError as error:
        raise RuntimeError(f"no package cache answers at {url}/health ({getattr(error, 'reason', error)}): "
                           "check the address on the board, and that this laptop is on the room's network") from None
    path = config.write_setting("WORKSHOP_PACKAGE_CACHE", url)
    return (f"builds now install through {url} (WORKSHOP_PACKAGE_CACHE in {path}); "
            "restart your notebooks' kernels, so that $BUILD_FLAGS carries it")


def _print_prefetch(cache_url: str) -> None:
    started = time.monotonic()
    files, size = prefetch(cache_url)
    print(f"prefetched {files} files, {size / 1e9:.2f} GB, through {cache_url} "
          f"in {time.monotonic() - started:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("serve", help="run the classroom cache (Ctrl-C stops it)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: every interface)")
    cache_dir = config.CACHE_DIR / "classroom"
    p.add_argument("--cache-dir", type=Path, default=cache_dir, help=f"default: {cache_dir}")
    p.add_argument("--prefetch", action="store_true", help="first download every wheel the images install")
    p = sub.add_parser("join", help="learners: install through the room's cache (writes .workshop.env)")
    p.add_argument("url", metavar="URL", help="the cache's address, as the instructor's screen shows it")
    p = sub.add_parser("prefetch", help="fill a running cache with every wheel the images install")
    p.add_argument("--cache", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the cache's base URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.action == "serve":
            return serve(args.host, args.port, args.cache_dir, args.prefetch)
        if args.action == "join":
            print(join(args.url))
            return 0
        _print_prefetch(args.cache.rstrip("/"))
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
