"""Exercise checks: each passes on an image built to pass and fails, with a learner's sentence, on one built to fail."""

from __future__ import annotations

import docker.errors
import pytest

from workshop import checks, engine
from workshop.build import build
from workshop.checks import CheckFailed

pytestmark = pytest.mark.docker

PREFIX = "workshoptest-h4"

DOCKERFILES = {
    # Root by default, with a shell and coreutils, no curl, no Python.
    "root": "FROM debian:bookworm-slim\nLABEL workshop.test=h4\n",
    "nonroot": "FROM debian:bookworm-slim\nRUN useradd --uid 10001 app\nUSER 10001\n",
    "named-user": "FROM debian:bookworm-slim\nRUN useradd --uid 10001 app\nUSER app:app\n",
    "explicit-root": "FROM debian:bookworm-slim\nUSER root\n",
    # Like distroless: no shell at all, one program copied in, no command.
    "noshell": "FROM scratch\nCOPY --from=debian:bookworm-slim /usr/bin/true /usr/bin/true\n",
    # A module the base image does not have, and a program on a PATH directory of the image's own.
    "py": "FROM python:3.11-slim-bookworm\n"
          "RUN echo 'ANSWER = 42' > /usr/local/lib/python3.11/site-packages/h4probe.py\n"
          "RUN mkdir -p /opt/venv/bin && ln -s /usr/local/bin/python3 /opt/venv/bin/h4tool\n"
          "ENV PATH=/opt/venv/bin:$PATH\n",
    # Lesson 02's image of your own: FROM another image, a CMD, and the three ways to get it wrong.
    "own": f'FROM {PREFIX}:check-root\nCMD ["python", "app/server.py"]\n',
    "own-shell-form": f"FROM {PREFIX}:check-root\nCMD python app/server.py\n",
    "own-with-a-file": f'FROM {PREFIX}:check-root\nRUN touch /mine\nCMD ["python", "app/server.py"]\n',
}


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """Build the module's test images; `image[name]` is the tag. Removed at the end."""
    tags = {}
    for name, text in DOCKERFILES.items():
        ctx = tmp_path_factory.mktemp(name)
        (ctx / "Dockerfile").write_text(text)
        tags[name] = f"{PREFIX}:check-{name}"
        build(ctx / "Dockerfile", tags[name], context=ctx, quiet=True)
    yield tags
    for tag in tags.values():
        try:
            engine.client().images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


def test_image_exists(image):
    """image_exists() passes on a built tag and names the missing tag otherwise."""
    assert checks.image_exists(image["root"]).startswith(f"OK: {image['root']} exists (")
    with pytest.raises(CheckFailed) as caught:
        checks.image_exists(f"{PREFIX}:never-built")
    assert str(caught.value) == f"Expected an image called {PREFIX}:never-built, but there is none. Hint: build it first."


def test_tool_present(image):
    """tool_present() finds a program on the standard PATH and fails, listing where it looked, when it is absent."""
    assert checks.tool_present(image["root"], "bash") == f"OK: {image['root']} has /usr/bin/bash."
    with pytest.raises(CheckFailed) as caught:
        checks.tool_present(image["root"], "curl")
    assert str(caught.value) == (
        f"Expected {image['root']} to contain the program `curl`, but it is in none of /usr/local/sbin, "
        "/usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin. Hint: install the package that provides it, "
        "or copy it from the build stage."
    )


def test_tool_present_searches_the_images_own_path(image):
    """tool_present() also searches the directories of the image's PATH (a venv's bin, say), first."""
    assert checks.tool_present(image["py"], "h4tool") == f"OK: {image['py']} has /opt/venv/bin/h4tool."


def test_tool_absent(image):
    """tool_absent() passes when the program is nowhere on PATH and fails naming where it was found."""
    assert checks.tool_absent(image["root"], "curl") == f"OK: {image['root']} has no curl."
    with pytest.raises(CheckFailed) as caught:
        checks.tool_absent(image["root"], "bash")
    assert str(caught.value) == (
        f"Expected no `bash` in {image['root']}, but found /usr/bin/bash. Hint: build tools belong in the "
        "builder stage; copy only what the app needs into the final stage."
    )


def test_tool_checks_work_without_a_shell(image):
    """On an image with no shell and no command, the tool checks read the filesystem directly."""
    assert checks.tool_absent(image["noshell"], "sh") == f"OK: {image['noshell']} has no sh."
    assert checks.tool_present(image["noshell"], "true") == f"OK: {image['noshell']} has /usr/bin/true."
    with pytest.raises(CheckFailed, match=r"^Expected no `true` in .*, but found /usr/bin/true\."):
        checks.tool_absent(image["noshell"], "true")


def test_can_import(image):
    """can_import() passes when the image's python imports the module and fails with Python's own error otherwise."""
    assert checks.can_import(image["py"], "h4probe") == f"OK: {image['py']} can import h4probe."
    with pytest.raises(CheckFailed) as caught:
        checks.can_import("python:3.11-slim-bookworm", "h4probe")
    assert str(caught.value) == (
        "Expected `import h4probe` to work in python:3.11-slim-bookworm, but it fails with: ModuleNotFoundError: No "
        "module named 'h4probe'. Hint: add it to the requirements the image installs, and in a multi-stage "
        "build copy the installed packages (the venv) into the final stage."
    )


def test_cannot_import(image):
    """cannot_import() passes when the import fails and fails when the module is importable."""
    assert checks.cannot_import("python:3.11-slim-bookworm", "h4probe") == "OK: python:3.11-slim-bookworm cannot import h4probe."
    with pytest.raises(CheckFailed) as caught:
        checks.cannot_import(image["py"], "h4probe")
    assert str(caught.value) == (
        f"Expected h4probe to be absent from {image['py']}, but `import h4probe` works. Hint: install it "
        "only in the builder stage, or take it out of the runtime requirements."
    )


def test_import_checks_need_a_python(image):
    """The import checks say so when the image has no Python interpreter at all."""
    with pytest.raises(CheckFailed, match=r"^Expected a Python interpreter in .*check-root to try `import json`"):
        checks.can_import(image["root"], "json")


def test_runs_as_non_root(image):
    """runs_as_non_root() accepts a numeric or named USER and rejects a missing USER or USER root."""
    assert checks.runs_as_non_root(image["nonroot"]) == f"OK: {image['nonroot']} runs as 10001."
    assert checks.runs_as_non_root(image["named-user"]) == f"OK: {image['named-user']} runs as app:app."
    with pytest.raises(CheckFailed) as caught:
        checks.runs_as_non_root(image["root"])
    assert str(caught.value) == (
        f"Expected {image['root']} to run as a non-root user, but it has no USER instruction, so it runs as "
        "root. Hint: near the end of the Dockerfile, create a user with a fixed UID (`RUN useradd --uid 10001 "
        "app`) and switch to it (`USER 10001`)."
    )
    with pytest.raises(CheckFailed, match=r"but it has USER root\. Hint"):
        checks.runs_as_non_root(image["explicit-root"])


def test_size_under(image):
    """size_under() compares the image's size with a budget in bytes or Docker's units and says how far over it is."""
    size = engine.client().images.get(image["root"]).attrs["Size"]
    assert checks.size_under(image["root"], size + 1).startswith("OK: ")
    assert checks.size_under(image["root"], "1.5GB") == f"OK: {image['root']} is {engine.human(size)}, under 1.5 GB."
    with pytest.raises(CheckFailed) as caught:
        checks.size_under(image["root"], "10 MB")
    assert str(caught.value) == (
        f"Expected {image['root']} to be under 10 MB, but it is {engine.human(size)} "
        f"({engine.human(size - 10**7)} over). Hint: look for the biggest layers with `python -m workshop "
        "inspect` or dive, and for files that a later layer deletes."
    )
    with pytest.raises(CheckFailed):
        checks.size_under(image["root"], size)


@pytest.mark.parametrize(("text", "nbytes"), [
    ("900MB", 900 * 10**6), ("1.5GB", 1_500_000_000), ("820 mb", 820 * 10**6), ("2G", 2 * 10**9),
    ("512", 512), (4096, 4096),
])
def test_parse_size_reads_dockers_units(text, nbytes):
    """parse_size() reads ints and decimal sizes as Docker writes them."""
    assert checks.parse_size(text) == nbytes


def test_parse_size_rejects_nonsense():
    """parse_size() raises ValueError with an example of what it reads."""
    with pytest.raises(ValueError, match="write it like 900MB or 1.5GB"):
        checks.parse_size("big")


def test_checks_leave_no_containers_behind(image):
    """The checks remove the containers they create to read files or try imports."""
    checks.tool_present(image["noshell"], "true")
    checks.can_import(image["py"], "h4probe")
    for tag in (image["noshell"], image["py"]):
        assert engine.client().containers.list(all=True, filters={"ancestor": tag}) == []


def test_extends_with_command(image):
    """extends_with_command() passes on an image that is its base's layers plus a CMD running the program,
    and says what to change when the FROM, an added layer or the command's form is wrong."""
    root, own = image["root"], image["own"]
    assert checks.extends_with_command(own, root, "app/server.py") == (
        f"OK: {own} is {root}'s layers and no more; its CMD changed the image's settings, not its files, "
        "so the two images share every byte on disk. Its default command: python app/server.py.")
    with pytest.raises(CheckFailed, match=rf"to start with {image['nonroot']}'s layers.*`FROM {image['nonroot']}`"):
        checks.extends_with_command(own, image["nonroot"], "app/server.py")
    with pytest.raises(CheckFailed, match=r"to add no layer of files to .*, but it adds 1\. Hint: a CMD changes"):
        checks.extends_with_command(image["own-with-a-file"], root, "app/server.py")
    with pytest.raises(CheckFailed) as caught:
        checks.extends_with_command(image["own-shell-form"], root, "app/server.py")
    assert str(caught.value) == (
        f"Expected {image['own-shell-form']}'s default command to run app/server.py, but it is "
        "`/bin/sh -c python app/server.py`. Hint: write it in JSON form, as the last line of "
        f'{root}\'s Dockerfile does: CMD ["python", "app/server.py"].')
