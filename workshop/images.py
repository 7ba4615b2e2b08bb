"""The workshop's images, in one catalogue: every lesson's ``bert-classifier:NAME``, what builds it,
how it serves the API, what it holds. Every list of images in the package derives from here.

It imports nothing but the settings, so that ``python -m workshop clean``, the room's registry and
the build command read it without loading pandas or any measuring code.
"""

from __future__ import annotations

from dataclasses import dataclass

from workshop import config

#: Flask's own server (app/server.py): how an image serves the API until lesson 07 brings gunicorn.
FLASK_SERVER = ("python", "app/server.py")


@dataclass(frozen=True)
class Image:
    name: str  #: the tag under config.IMAGE_REPO: bert-classifier:NAME
    lesson: str  #: the lesson that builds it, "02" to "09"
    dockerfile: str  #: dockerfiles/DOCKERFILE.Dockerfile
    target: str | None = None  #: the stage built, when it is not the file's last
    build_args: tuple[tuple[str, str], ...] = ()  #: beyond the machine's own (config.BUILD_ARGS)
    serve: tuple[str, ...] = FLASK_SERVER  #: the command that serves the API on port 8080
    torch: bool = True  #: torch is installed in it
    model: bool = False  #: the model is baked in, at /opt/model
    compared: bool = True  #: a row of lesson 10's journey
    prefetched: bool = True  #: built by `python -m workshop prefetch`, served by the room's registry

    @property
    def tag(self) -> str:
        return tag(self.name)


CATALOGUE = (
    Image("naive", "02", "naive"),
    Image("slim", "03", "slim"),
    Image("multistage", "04", "multistage"),
    Image("cache", "05", "cache"),
    Image("baked", "06", "baked", model=True),
    Image("production", "07", "production", serve=("gunicorn",), model=True),
    Image("onnx", "08", "onnx", serve=("gunicorn",), torch=False, model=True),
    # Lesson 08's int8 variant: built when the lesson measures its accuracy, not beforehand.
    Image("onnx-int8", "08", "onnx", build_args=(("QUANTIZE", "int8"),), serve=("gunicorn",), torch=False,
          model=True, compared=False, prefetched=False),
    Image("final", "09", "final", serve=("serve",), torch=False, model=True),
    Image("final-debug", "09", "final", target="debug", serve=("serve",), torch=False, model=True, compared=False),
)
BY_NAME = {image.name: image for image in CATALOGUE}

#: Lesson 10's journey, in lesson order.
COMPARED = tuple(image.name for image in CATALOGUE if image.compared)
#: What `prefetch` builds and the room's registry serves, in lesson order.
PREFETCHED = tuple(image.name for image in CATALOGUE if image.prefetched)
#: `python -m workshop build` with no names: the three images of the classic tutorial (lessons 02 to 04).
CLASSIC = tuple(image.name for image in CATALOGUE if image.lesson <= "04")
#: The images with torch in them (lessons 02 to 07).
WITH_TORCH = tuple(image.name for image in CATALOGUE if image.torch and image.compared)
#: The images with the model baked in, that lesson 10 compares.
WITH_MODEL = tuple(image.name for image in CATALOGUE if image.model and image.compared)


def tag(name: str) -> str:
    """The full tag of the workshop's image NAME: bert-classifier:NAME (config.IMAGE_REPO)."""
    return f"{config.IMAGE_REPO}:{name}"


def source(name: str) -> tuple[str, str | None, dict[str, str]]:
    """The Dockerfile name, stage and build arguments that build bert-classifier:NAME. A name outside
    the catalogue is a Dockerfile of its own (slim-no-compiler), or DOCKERFILE-STAGE when no
    Dockerfile has the whole name (multistage-builder: multistage.Dockerfile's builder stage)."""
    if name in BY_NAME:
        image = BY_NAME[name]
        return image.dockerfile, image.target, dict(image.build_args)
    if not config.dockerfile(name).is_file() and "-" in name:
        dockerfile, target = name.rsplit("-", 1)
        return dockerfile, target, {}
    return name, None, {}


def serve_command(name: str) -> list[str]:
    """The command that serves the API in bert-classifier:NAME (Flask's server unless it says otherwise)."""
    return list(BY_NAME[name].serve if name in BY_NAME else FLASK_SERVER)


def by_lesson(up_to: str) -> list[str]:
    """The prefetched images of lessons 02 to `up_to`, in lesson order: what a lesson compares with."""
    return [image.name for image in CATALOGUE if image.prefetched and image.lesson <= up_to]
