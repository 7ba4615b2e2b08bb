"""Checks behind the exercises: each returns a short "OK: ..." or raises `CheckFailed`.

A failure message says what was expected, what was found, and a hint, in words a learner can
act on. The checks look at images from the outside (files, config, one `python -c`), so they
also work on images without a shell, such as distroless ones.
"""

from __future__ import annotations

import re

import docker.errors
from docker.models.images import Image

from workshop import engine, run
from workshop.engine import human
from workshop.layers import image_size

#: Where executables live when an image does not say otherwise (its PATH is searched first).
STANDARD_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_ROOT = ("", "root", "0")
_S_IFDIR = 1 << 31  # Go's os.ModeDir, as the engine reports file modes


class CheckFailed(AssertionError):
    """An exercise check did not pass; the message says why and what to try."""


def image_exists(tag: str) -> str:
    image = _image(tag)
    return f"OK: {tag} exists ({human(image_size(image))})."


def tool_present(image: str, name: str) -> str:
    found = _find_tool(image, name)
    if found is None:
        raise CheckFailed(
            f"Expected {image} to contain the program `{name}`, but it is in none of "
            f"{', '.join(_path_dirs(image))}. Hint: install the package that provides it, or copy it "
            "from the build stage."
        )
    return f"OK: {image} has {found}."


def tool_absent(image: str, name: str) -> str:
    found = _find_tool(image, name)
    if found is not None:
        raise CheckFailed(
            f"Expected no `{name}` in {image}, but found {found}. Hint: build tools belong in the "
            "builder stage; copy only what the app needs into the final stage."
        )
    return f"OK: {image} has no {name}."


def can_import(image: str, module: str) -> str:
    ok, error = _try_import(image, module)
    if not ok:
        raise CheckFailed(
            f"Expected `import {module}` to work in {image}, but it fails with: {error}. Hint: add it to "
            "the requirements the image installs, and in a multi-stage build copy the installed "
            "packages (the venv) into the final stage."
        )
    return f"OK: {image} can import {module}."


def cannot_import(image: str, module: str) -> str:
    ok, _ = _try_import(image, module)
    if ok:
        raise CheckFailed(
            f"Expected {module} to be absent from {image}, but `import {module}` works. Hint: install "
            "it only in the builder stage, or take it out of the runtime requirements."
        )
    return f"OK: {image} cannot import {module}."


def torch_cuda(image: str) -> str | None:
    """The CUDA version torch in `image` was built for (torch.version.cuda), None for a CPU-only build."""
    cuda = run.run_batch(image, ["python", "-c", "import torch; print(torch.version.cuda)"]).strip()
    return None if cuda == "None" else cuda


def torch_cpu_only(image: str) -> str:
    """torch in `image` is a CPU-only build."""
    cuda = torch_cuda(image)
    if cuda is not None:
        raise CheckFailed(
            f"Expected a CPU-only torch in {image}, but it is the CUDA {cuda} build, with gigabytes of "
            "nvidia libraries a CPU server never loads. Hint: install torch alone from "
            "https://download.pytorch.org/whl/cpu first (pip install --no-deps --index-url URL torch==...), "
            "then the rest from PyPI, as dockerfiles/naive.Dockerfile does."
        )
    return f"OK: torch in {image} is a CPU-only build."


def runs_as_non_root(image: str) -> str:
    user = _image(image).attrs["Config"].get("User") or ""
    # USER may be "name", "uid", "name:group" or "uid:gid"; only the user part matters.
    if user.split(":")[0] in _ROOT:
        found = f"USER {user}" if user else "no USER instruction, so it runs as root"
        raise CheckFailed(
            f"Expected {image} to run as a non-root user, but it has {found}. Hint: near the end of "
            "the Dockerfile, create a user with a fixed UID (`RUN useradd --uid 10001 app`) and "
            "switch to it (`USER 10001`)."
        )
    return f"OK: {image} runs as {user}."


def extends_with_command(image: str, base: str, program: str) -> str:
    """`image` is `base`'s layers and no more, with a default command that runs `program`."""
    layers, base_layers = (_image(tag).attrs["RootFS"].get("Layers", []) for tag in (image, base))
    if layers[:len(base_layers)] != base_layers:
        raise CheckFailed(f"Expected {image} to start with {base}'s layers, but it does not. Hint: its "
                          f"Dockerfile's first line is `FROM {base}`; if it is, {base} was built again since: "
                          f"build {image} again too.")
    if added := len(layers) - len(base_layers):
        raise CheckFailed(f"Expected {image} to add no layer of files to {base}, but it adds {added}. Hint: "
                          "a CMD changes the image's settings only; which other instruction is in your Dockerfile?")
    command = _image(image).attrs["Config"].get("Cmd") or []
    if program not in command:
        said = f"`{' '.join(command)}`" if command else "none"
        form = f'CMD ["python", "{program}"]'
        raise CheckFailed(f"Expected {image}'s default command to run {program}, but it is {said}. Hint: "
                          f"write it in JSON form, as the last line of {base}'s Dockerfile does: {form}.")
    return (f"OK: {image} is {base}'s layers and no more; its CMD changed the image's settings, not its "
            f"files, so the two images share every byte on disk. Its default command: {' '.join(command)}.")


def size_under(image: str, budget: int | str) -> str:
    limit = parse_size(budget)
    size = image_size(_image(image))
    if size >= limit:
        raise CheckFailed(
            f"Expected {image} to be under {human(limit)}, but it is {human(size)} "
            f"({human(size - limit)} over). Hint: look for the biggest layers with "
            "`python -m workshop inspect` or dive, and for files that a later layer deletes."
        )
    return f"OK: {image} is {human(size)}, under {human(limit)}."


def parse_size(size: int | str) -> int:
    """Bytes in `size`: an int, or decimal units as Docker prints them ("900MB", "1.5 GB")."""
    if isinstance(size, int):
        return size
    if not (m := _SIZE.match(size)):
        raise ValueError(f"Cannot read {size!r} as a size; write it like 900MB or 1.5GB.")
    return round(float(m[1]) * _UNITS[m[2].lower()])


def _image(tag: str) -> Image:
    try:
        return engine.get_image(tag)
    except engine.ImageMissing as exc:
        raise CheckFailed(f"Expected an image called {tag}, but there is none. "
                          "Hint: build it first.") from exc


def _path_dirs(image: str) -> list[str]:
    """The image's own PATH first, then the standard directories, without repeats."""
    own = engine.image_env(_image(image)).get("PATH", "").split(":")
    return list(dict.fromkeys(d.rstrip("/") for d in [*own, *STANDARD_PATH] if d.startswith("/")))


def _find_tool(image: str, *names: str) -> str | None:
    """Path of the first executable called one of `names` on the image's PATH, read from its files."""
    dirs = _path_dirs(image)
    with run.created(image) as container:
        for path in (f"{directory}/{name}" for name in names for directory in dirs):
            try:
                stream, stat = container.get_archive(path)
            except docker.errors.NotFound:
                continue
            for _ in stream:  # drain the tar stream so the connection is released
                pass
            # Symlinks count (python -> python3.11); their mode carries every execute bit.
            if not stat["mode"] & _S_IFDIR and stat["mode"] & 0o111:
                return path
    return None


def _try_import(image: str, module: str) -> tuple[bool, str]:
    """Whether the image's python imports `module`, and the error's last line if not."""
    if not _MODULE.match(module):
        raise ValueError(f"{module!r} is not a module name.")
    python = _find_tool(image, "python", "python3")
    if python is None:
        raise CheckFailed(f"Expected a Python interpreter in {image} to try `import {module}`, but found "
                          "neither python nor python3 on its PATH.")
    done = run.run_container(image, ["-c", f"import {module}"], entrypoint=[python], network_mode="none",
                             timeout=300)
    lines = done.stderr.strip().splitlines()
    return done.exit_code == 0, lines[-1] if lines else f"exit code {done.exit_code}"
