"""Choosing a docker client that can build: a newer client without buildx is passed over, with a notice."""

from __future__ import annotations

import os
import stat

from workshop import dockercli


def fake_docker(folder, version: str, buildx: bool) -> str:
    """A `docker` script in `folder` that answers --version and `buildx version` like the real client."""
    folder.mkdir()
    path = folder / "docker"
    path.write_text("#!/bin/sh\n"
                    f'[ "$1" = --version ] && {{ echo "Docker version {version}, build abc"; exit 0; }}\n'
                    f'[ "$1" = buildx ] && exit {0 if buildx else 1}\n'
                    "exit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_client_without_buildx_is_replaced_by_one_that_builds(tmp_path, monkeypatch):
    """Docker 28 without buildx first on PATH, Docker 20.10 after it: builds use 20.10, and a notice says so."""
    new = fake_docker(tmp_path / "new", "28.2.2", buildx=False)
    old = fake_docker(tmp_path / "old", "20.10.24+dfsg1", buildx=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'new'}{os.pathsep}{tmp_path / 'old'}")
    monkeypatch.setattr(dockercli, "WELL_KNOWN", ())
    path, notice = dockercli.choose()
    assert path == old
    assert notice.startswith(f"notice: {new} has no buildx plugin") and old in notice


def test_a_client_with_buildx_is_kept_without_a_notice(tmp_path, monkeypatch):
    """When `docker` itself can build, nothing changes and nothing is printed."""
    fake_docker(tmp_path / "new", "28.2.2", buildx=True)
    fake_docker(tmp_path / "old", "20.10.24", buildx=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'new'}{os.pathsep}{tmp_path / 'old'}")
    monkeypatch.setattr(dockercli, "WELL_KNOWN", ())
    assert dockercli.choose() == ("docker", None)


def test_no_client_that_builds_keeps_docker_and_says_how_to_fix_it(tmp_path, monkeypatch):
    """With only a client that cannot build, `docker` stays and the notice names the buildx plugin."""
    fake_docker(tmp_path / "new", "28.2.2", buildx=False)
    monkeypatch.setenv("PATH", str(tmp_path / "new"))
    monkeypatch.setattr(dockercli, "WELL_KNOWN", ())
    path, notice = dockercli.choose()
    assert path == "docker" and "install the buildx plugin" in notice
