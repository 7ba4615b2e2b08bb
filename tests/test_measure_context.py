"""rebuild.context_bytes: the build context BuildKit reports receiving, from its plain log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workshop import engine, rebuild
from workshop.build import build

# Lines of a real `docker build --progress=plain` (BuildKit in Docker 20.10), the .dockerignore's
# own transfer included: only the "load build context" vertex counts.
REAL_LOG = """\
#1 [internal] load build definition from Dockerfile
#1 sha256:fc7b5968d4f800b4af5bf4068d3f5b548c5b26332aabcafd897adcb2bfd60855
#1 transferring dockerfile: 71B done
#1 DONE 0.0s

#2 [internal] load .dockerignore
#2 sha256:c98f7dfd27dc444701a983977ab6655af159b1be8deefe4f53156c7235bad2d1
#2 transferring context: 2B done
#2 DONE 0.0s

#3 [internal] load metadata for docker.io/library/python:3.11-slim-bookworm
#3 DONE 0.0s

#5 [internal] load build context
#5 sha256:49557540a56fa8cbeeace5378dfe67c7a2f0001f8b8ea21fc66ce34551c918d0
#5 transferring context: 1.50MB 0.1s done
#5 DONE 0.1s
"""


def test_context_bytes_reads_the_build_context_vertex_and_not_the_dockerignore():
    assert rebuild.context_bytes(REAL_LOG) == 1_500_000


def test_context_bytes_takes_the_last_progress_line_of_a_long_transfer():
    log = ("#4 [internal] load build context\n#4 transferring context: 12.58MB 2.0s\n"
           "#4 transferring context: 34.20MB 4.1s\n#4 transferring context: 51.38MB 5.2s done\n")
    assert rebuild.context_bytes(log) == 51_380_000


def test_context_bytes_reads_kilobytes_and_gigabytes():
    assert rebuild.context_bytes("#6 [internal] load build context\n#6 transferring context: 2.07kB done\n") == 2070
    assert rebuild.context_bytes("#6 [internal] load build context\n#6 transferring context: 1.2GB 30.5s done\n") == 1_200_000_000


def test_context_bytes_is_zero_when_no_context_was_loaded():
    assert rebuild.context_bytes("#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n") == 0


@pytest.mark.docker
def test_context_bytes_counts_what_dockerignore_leaves_in(tmp_path: Path):
    """A 2 MB file in the context is sent, and is not once .dockerignore names it."""
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim-bookworm\nCOPY . /context/\n")
    (tmp_path / "blob.bin").write_bytes(os.urandom(2_000_000))  # random: the same bytes never come twice
    sent = {}
    for case in ("without", "with"):
        context = tmp_path / case
        context.mkdir()
        (context / "blob.bin").write_bytes((tmp_path / "blob.bin").read_bytes())
        (context / "small.txt").write_text("a few bytes\n")
        if case == "with":
            (context / ".dockerignore").write_text("blob.bin\n")
        tag = f"workshoptest-context:{case}-{tmp_path.name.lower()}"  # one tag per image: none left dangling
        try:
            sent[case] = rebuild.context_bytes(build(tmp_path / "Dockerfile", tag, context=context, quiet=True))
        finally:
            if engine.client().images.list(name=tag):
                engine.client().images.remove(tag, force=True)
    assert 2_000_000 <= sent["without"] < 2_100_000
    assert 0 < sent["with"] < 10_000
