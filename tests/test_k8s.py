"""dockerfiles/final.k8s.yaml: valid for Kubernetes, and true to the image it deploys.

The schema check is kubernetes-validate's (Kubernetes' own OpenAPI schemas, offline); the rest asks
the image and the app: its user, port and entry point, the probe paths answering, the stop
timeouts in the right order, the limits of the hardened `docker run` of lesson 09.
"""

from __future__ import annotations

import runpy

import kubernetes_validate
import pytest
import yaml

from workshop import config
from workshop.build import build
from workshop.engine import get_image
from workshop.run import HARDENED, serve

MANIFEST = config.REPO_ROOT / "dockerfiles" / "final.k8s.yaml"
FINAL = f"{config.IMAGE_REPO}:final"


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text())}


@pytest.fixture(scope="module")
def container(documents) -> dict:
    [api] = documents["Deployment"]["spec"]["template"]["spec"]["containers"]
    return api


def test_every_document_is_valid_for_kubernetes(documents):
    """Strict: an unknown or misspelt field fails too, not only a wrong type."""
    assert set(documents) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    version = kubernetes_validate.latest_version()
    for doc in documents.values():
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_can_fail(documents):
    broken = yaml.safe_load(yaml.safe_dump(documents["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_the_pod_is_locked_down(documents, container):
    """Non-root, read-only root, no capabilities, no privilege gain, no service account token."""
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and not pod["automountServiceAccountToken"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "privileged": False, "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["requests"]["cpu"] == "1" and "cpu" not in container["resources"]["limits"]
    assert container["resources"]["limits"]["memory"] == HARDENED["mem_limit"].replace("m", "Mi")


def test_stop_timeouts_nest(documents):
    """Kubernetes waits longer than gunicorn's graceful timeout before it kills."""
    settings = runpy.run_path(str(config.REPO_ROOT / "app" / "gunicorn.conf.py"))
    grace = documents["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert settings["graceful_timeout"] < grace


@pytest.mark.docker
def test_the_manifest_matches_the_image_and_its_probes_answer(documents, container):
    """The image's user and port are the manifest's; run with lesson 09's hardened options (no
    tmpfs: nothing needs a writable /tmp), each probe path answers 200, an upload over the size
    werkzeug would spill to disk gets its 4xx, and /classify answers."""
    build("final", FINAL, quiet=True)
    image = get_image(FINAL).attrs["Config"]
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    assert image["User"] == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert f"{container['ports'][0]['containerPort']}/tcp" in image["ExposedPorts"]
    probes = [container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    with serve(FINAL, command=container["args"], **HARDENED) as server:
        assert [server.get(path).status_code for path in probes] == [200, 200, 200]
        upload = server.post("/classify-file", files={"file": ("big.txt", b"word " * 120_000, "text/plain")})
        assert upload.status_code == 422, upload.text  # over MAX_TEXT_CHARS, read in memory first
        assert server.classify("A warm and funny film.")[0]["label"] == "POSITIVE"
