"""The image catalogue (workshop/images.py): every image resolves to a Dockerfile, a stage and the
build arguments it declares, and the lists the package keeps derive from it. No Docker needed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from workshop import claims, config, housekeeping, images, journey, room


@pytest.mark.parametrize("image", images.CATALOGUE, ids=lambda image: image.name)
def test_each_image_resolves_to_its_dockerfile_stage_and_arguments(image):
    dockerfile, target, build_args = images.source(image.name)
    text = config.dockerfile(dockerfile).read_text()
    assert target is None or re.search(rf"^FROM \S+ AS {target}$", text, re.M | re.I), f"no stage {target}"
    for name in build_args:
        assert re.search(rf"^ARG {name}\b", text, re.M), f"{dockerfile}.Dockerfile declares no ARG {name}"
    program = image.serve[0]
    # The serving program is the image's own: gunicorn installed in it, or final's `serve` entry point.
    assert program in ("python", "gunicorn", "serve")
    assert program != "serve" or re.search(r"\bserve\b", text), f"{dockerfile}.Dockerfile has no serve command"
    assert image.tag == f"{config.IMAGE_REPO}:{image.name}"


def test_names_are_unique_and_in_lesson_order():
    names = [image.name for image in images.CATALOGUE]
    assert len(names) == len(set(names))
    lessons = [image.lesson for image in images.CATALOGUE]
    assert lessons == sorted(lessons)


def test_names_outside_the_catalogue_are_a_dockerfile_or_one_of_its_stages():
    assert images.source("slim-no-compiler") == ("slim-no-compiler", None, {})
    assert images.source("multistage-builder") == ("multistage", "builder", {})
    assert images.source("final-debug") == ("final", "debug", {})
    assert images.source("onnx-int8") == ("onnx", None, {"QUANTIZE": "int8"})
    assert images.serve_command("slim-no-compiler") == ["python", "app/server.py"]


def test_every_list_of_images_derives_from_the_catalogue():
    """What lesson 10 compares, what prefetch builds, the room's lessons and the claims' torch images."""
    assert journey.IMAGES == ("naive", "slim", "multistage", "cache", "baked", "production", "onnx", "final")
    assert housekeeping.LESSON_IMAGES == (*journey.IMAGES, "final-debug")
    assert [name for names in room.LESSONS.values() for name in names] == list(housekeeping.LESSON_IMAGES)
    assert claims.TORCH_IMAGES == ("naive", "slim", "multistage", "cache", "baked", "production")
    assert claims.MODEL_IMAGES == ("baked", "production", "onnx", "final")
    assert images.CLASSIC == ("naive", "slim", "multistage")
    assert images.serve_command("final") == ["serve"] and images.serve_command("naive") == ["python", "app/server.py"]


def test_clean_and_the_room_load_no_measuring_code():
    """`python -m workshop clean`, `pull` and `room` import the catalogue, not pandas or the journey."""
    probe = ("import sys, workshop.__main__, workshop.housekeeping, workshop.room; "
             "print(sorted(m for m in ('pandas', 'numpy', 'workshop.journey', 'workshop.loadtest') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=config.REPO_ROOT)
    assert done.stdout.strip() == "[]"
