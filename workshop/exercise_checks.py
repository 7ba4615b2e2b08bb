"""The check of every exercise in ``solutions/``, registered by exercise id.

- A Dockerfile exercise's check receives the path of the Dockerfile to check (the learner's copy
  in ``exercises/`` or the reference in ``solutions/``), builds it from the repository root as
  ``bert-classifier:ex-<id>`` (``sol-<id>`` for the reference) and looks at the image.
- A notebook exercise's check receives the notebook's variables: its last cell calls
  ``workshop.exercises.verify("<id>", ...)``.

Each check raises ``CheckFailed`` with one sentence saying what is still wrong and what to try.
The reference Dockerfiles repeat the lesson's Dockerfiles instruction for instruction, so their
builds come from the cache the lessons filled.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import docker.errors
import requests

from workshop import checks, config, engine, images, rebuild
from workshop.build import BuildFailed, BuildOutOfSpace, BuildResult, build
from workshop.checks import CheckFailed
from workshop.engine import human
from workshop.exercises import EXERCISES_DIR, SOLUTIONS_DIR, exercise
from workshop.layers import analyze, image_size, layer_table
from workshop.run import RunFailed, run_container, serve

NAIVE = images.tag("naive")
#: The ticket router (exercises 04-cache-order, 06, 07 and 10), and the build context of their Dockerfiles.
TRANSFER_APP = EXERCISES_DIR / "transfer-app"
#: What pip prints when it needs a C compiler the image does not have.
_NO_COMPILER = re.compile(r"command '[^']*gcc' failed|gcc: (?:command )?not found|No such file or directory: '[^']*gcc'")
#: What gcc prints when a header the code includes is not installed.
_NO_HEADER = re.compile(r"fatal error: ([\w./-]+\.h): No such file or directory")
#: gcc as Debian installs it: usr/bin/gcc, usr/bin/gcc-12, usr/bin/x86_64-linux-gnu-gcc-12...
_GCC = re.compile(r"usr/bin/(?:[\w-]+-)?gcc(?:-\d+)?")


def _tag(exercise_id: str, path: Path) -> str:
    kind = "sol" if path.resolve().parent == SOLUTIONS_DIR.resolve() else "ex"
    return images.tag(f"{kind}-{exercise_id}")


def _build(path: Path, tag: str, context: Path = config.REPO_ROOT) -> BuildResult:
    """Build the learner's Dockerfile quietly; a failed build becomes a learner's sentence."""
    try:
        return build(path, tag, context=context, quiet=True)
    except BuildOutOfSpace:
        raise  # the machine's problem, not the Dockerfile's: its message says how to free space
    except BuildFailed as failure:
        if _NO_COMPILER.search(failure.log):
            raise CheckFailed(
                f"{path.name} does not build: pip finds no C compiler at step {failure.step}. "
                "Install gcc and libc6-dev with apt-get in the same RUN, before pip install."
            ) from None
        if header := _NO_HEADER.search(failure.log):
            raise CheckFailed(
                f"{path.name} does not build: the compiler runs, but finds no {header.group(1)} at step "
                f"{failure.step}. Debian ships a library's headers in its -dev package: find the one that "
                f"installs {header.group(1)} (search the file on packages.debian.org) and install it beside gcc."
            ) from None
        last = failure.tail.strip().splitlines()[-1:] or ["(no output)"]
        raise CheckFailed(f"{path.name} does not build: step {failure.step} failed with: {last[0]}") from None


# --- lesson 01 ----------------------------------------------------------------------------------


@exercise("01-call-the-api", title="Classify several texts with one request", lesson="01")
def call_the_api(*, response: object, labels: object, reviews: list[str]) -> None:
    if not isinstance(response, requests.Response):
        raise CheckFailed(f"`response` should be what requests.post(...) returned, but it is a {type(response).__name__}.")
    sent = response.request
    path = urlsplit(sent.url or "").path  # a str: urlsplit(None) gives bytes, which the message would show as b''
    if (sent.method, path) != ("POST", "/classify"):
        raise CheckFailed(f"Your request was {sent.method} {path}, but the API classifies texts at POST /classify.")
    try:
        raw = sent.body or b"null"
        # A streamed body (a file, a generator) is no JSON document here: json.loads would raise TypeError.
        body = json.loads(raw) if isinstance(raw, (str, bytes, bytearray)) else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or "texts" not in body:
        keys = ", ".join(sorted(body)) if isinstance(body, dict) else "no JSON object"
        raise CheckFailed(f"Your request sent {keys or 'an empty object'}: send all the reviews at once, "
                          'as json={"texts": REVIEWS}.')
    if body["texts"] != list(reviews):
        raise CheckFailed('The "texts" you sent are not REVIEWS: send the whole list, in its order.')
    if response.status_code != 200:
        raise CheckFailed(f"The server answered {response.status_code}: {response.text.strip()}")
    expected = [item["label"] for item in response.json()["result"]]
    if labels != expected:
        raise CheckFailed("`labels` should be the list of labels in response.json()['result'], one per review "
                          f"in order ({len(expected)} of them), e.g. {expected[:2]}...")


# --- lesson 02 ----------------------------------------------------------------------------------


@exercise("02-biggest-layer", title="Find the layer that holds the most bytes", lesson="02")
def biggest_layer(answer: object, image: str = NAIVE) -> None:
    table = layer_table(image)
    biggest = table.loc[table["size_bytes"].idxmax()]
    if not isinstance(answer, str):
        raise CheckFailed(f"`answer` should be the text of one row's `instruction` (a str), not a {type(answer).__name__}.")
    wanted = " ".join(answer.split())
    if wanted == " ".join(biggest["instruction"].split()):
        return
    same = table[table["instruction"].map(lambda text: " ".join(text.split())) == wanted]
    if same.empty:
        raise CheckFailed(f"`answer` is the instruction of no layer of {image}: copy it from the `instruction` "
                          "column of layer_table(...).")
    raise CheckFailed(f"That layer adds {engine.human(same['size_bytes'].max())}, but another layer adds "
                      f"{engine.human(biggest['size_bytes'])}: sort the table by `size_bytes`.")


# --- lesson 03 ----------------------------------------------------------------------------------

#: The C extension of exercises 03 to 05, and the build context of their Dockerfiles.
YAMLSTATS = EXERCISES_DIR / "yamlstats"
#: What `python -m yamlstats samples/training.yaml` prints first, in every yamlstats image.
YAMLSTATS_OUTPUT = "samples/training.yaml: documents: 1"
#: The header libyaml-dev installs: a runtime image has no use for it.
_YAML_HEADER = re.compile(r"usr/include/yaml\.h")
#: How a yamlstats image without libyaml fails to import it.
_NO_LIBYAML = "libyaml-0.so.2"


@exercise("03-fix-slim", title="Build a C extension that links a system library, on slim", lesson="03")
def fix_slim(path: Path) -> None:
    tag = _tag("03-fix-slim", path)
    _build(path, tag, context=YAMLSTATS)
    _expect_yamlstats(tag, no_library=f"{path.name} builds, but yamlstats cannot load {_NO_LIBYAML} in the image: apt "
                      "installed libyaml-0-2 only because libyaml-dev needed it, so purge --auto-remove took it "
                      "away too. Name libyaml-0-2 in your apt-get install, and apt keeps it.",
                      no_module=f"{path.name} builds, but `import yamlstats` fails in the image: the RUN you write "
                      "must pip install . (the build context, copied to /src), which compiles yamlstats.")
    _expect(checks.tool_absent, tag, "gcc",
            sentence=f"gcc is still in the image built from {path.name}: after pip install, apt-get purge "
                     "gcc, libc6-dev and libyaml-dev in the same RUN.")
    compilers = [file.path for file in analyze(tag).files if _GCC.fullmatch(file.path)]
    if compilers:
        raise CheckFailed(f"/{compilers[0]} is still in the image built from {path.name}: purging the package "
                          "named gcc leaves gcc-12, the compiler apt installed for it. Purge with --auto-remove, "
                          "which also removes what only the purged packages needed.")
    _no_headers(tag, "after pip install, purge libyaml-dev with the compiler, in the same RUN")
    leftovers = _compiler_layers(tag)
    if leftovers:
        raise CheckFailed(f"gcc is gone from the final filesystem, but the layer of `{leftovers[0]}` still "
                          "ships it: install, build and purge in ONE RUN, so no layer ever stores the compiler.")
    _expect_output(tag, path, YAMLSTATS_OUTPUT, 'CMD ["python", "-m", "yamlstats", "samples/training.yaml"]')


def _compiler_layers(image: str) -> list[str]:
    """Instructions of the layers that add a gcc binary, whether or not a later layer deletes it."""
    return [layer.command for layer in analyze(image).layers
            if any(change.change in ("added", "modified") and _GCC.fullmatch(change.path) for change in layer.files)]


def _expect_yamlstats(tag: str, *, no_library: str, no_module: str, no_python: str | None = None) -> None:
    """`import yamlstats` works in `tag`; else CheckFailed with `no_library` when libyaml is what is
    missing, `no_python` when the image has no interpreter to try (or one that cannot start: a
    venv's link to another image's), `no_module` otherwise."""
    try:
        checks.can_import(tag, "yamlstats")
    except docker.errors.APIError:
        raise CheckFailed(no_python or no_module) from None
    except CheckFailed as failure:
        if no_python and "neither python nor python3" in str(failure):
            raise CheckFailed(no_python) from None
        raise CheckFailed(no_library if _NO_LIBYAML in str(failure) else no_module) from None


def _no_headers(image: str, fix: str) -> None:
    """CheckFailed when `image`'s filesystem holds libyaml's header (a -dev package left in)."""
    if any(_YAML_HEADER.fullmatch(file.path) for file in analyze(image).files):
        raise CheckFailed(f"libyaml's headers (/usr/include/yaml.h, from libyaml-dev) are in {image}: {fix}; "
                          "the extension needs them to compile, never to run.")


# --- lesson 04 ----------------------------------------------------------------------------------


@exercise("04-runtime-stage", title="Write the runtime stage, for a C extension that links a library", lesson="04")
def runtime_stage(path: Path) -> None:
    tag = _tag("04-runtime-stage", path)
    _build(path, tag, context=YAMLSTATS)
    _expect(checks.tool_absent, tag, "gcc",
            sentence=f"The image built from {path.name} still has gcc: start a last stage FROM "
                     "python:3.11-slim-bookworm that copies the builder's /opt/venv and samples/ (no compiler, "
                     "nothing built twice).")
    _no_headers(tag, "install the library's runtime package (libyaml-0-2), not libyaml-dev")
    _expect_yamlstats(tag, no_library=f"The runtime stage has the venv, but yamlstats cannot load {_NO_LIBYAML}: "
                      "the builder's base has libyaml, slim does not. apt-get install the library's runtime package "
                      "(libyaml-0-2: no -dev, no compiler) in the last stage.",
                      no_module="The final image cannot import yamlstats: COPY --from=builder /opt/venv /opt/venv, "
                      "and put /opt/venv/bin first on PATH (ENV PATH=/opt/venv/bin:$PATH).")
    own = _stage_instructions(tag, "python:3.11-slim-bookworm")
    if any("pip install" in instruction for instruction in own):
        raise CheckFailed("Your runtime stage runs pip install: copy the builder's venv instead, so no "
                          "package is downloaded or compiled twice.")
    _expect_output(tag, path, YAMLSTATS_OUTPUT, 'WORKDIR /srv, COPY samples/ samples/ and '
                   'CMD ["python", "-m", "yamlstats", "samples/training.yaml"]')


def _stage_instructions(image: str, base: str) -> list[str]:
    """The instructions of `image`'s own layers, above those of its `base` image."""
    table = layer_table(image)
    return list(table["instruction"].iloc[len(layer_table(base)):])


#: The first lines pip prints when an install runs: a build can be stopped at the first of them.
_PIP_RUNS = r"^(Looking in indexes|Processing|Collecting|Requirement already satisfied)\b"


@exercise("04-cache-order", title="Order a builder so an app change neither reinstalls nor retrains", lesson="04")
def cache_order(path: Path) -> None:
    tag = _tag("04-cache-order", path)
    if "pip install" not in _builder_lines(path.read_text()):
        raise CheckFailed(f"{path.name} installs nothing: the builder must pip install -r requirements.txt, train "
                          "with train.py, and hold serve.py, in the order that keeps each step cached.")
    _build(path, tag, context=TRANSFER_APP)
    _route_messages(tag, path)
    steps_run = _rebuild_after_serve_edit(path, tag)
    retrained = [step for step in steps_run if re.search(r"\bRUN\b.*\btrain\.py\b", step)]
    if retrained:
        raise CheckFailed(f"Changing one line of serve.py re-ran the training (`{retrained[0]}`): the model "
                          "depends on train.py and data/ alone. Copy those, train, and copy serve.py after "
                          "the training step.")


# --- lesson 05 ----------------------------------------------------------------------------------

#: A small package that no base image and none of the builder's packages bring: the second build
#: of exercise 05 adds it to the apt-get line, so that apt runs again.
APT_PROBES = ("ed", "bc")
#: `apt-get ... install` in a RUN line, its options between the two words.
_APT_INSTALL = re.compile(r"apt-get(?:\s+-{1,2}[\w=-]+)*\s+install\b")
#: A package apt downloads: "Get:5 URL bookworm/main amd64 gcc-12 amd64 12.2.0-14 [19.3 MB]"
#: (package lists have one word fewer: "Get:2 URL bookworm/main amd64 Packages [8792 kB]").
_APT_GETS = re.compile(r"\bGet:\d+\s+\S+\s+\S+\s+\S+\s+(\S+)\s+\S+\s+\S+\s+\[")


@exercise("05-cache-mount", title="Keep apt's downloads in BuildKit cache mounts", lesson="05")
def cache_mount(path: Path) -> None:
    tag = _tag("05-cache-mount", path)
    text = path.read_text()
    if not _APT_INSTALL.search(_builder_lines(text)):
        raise CheckFailed(f"{path.name} runs no apt-get install: the builder must install gcc, libc6-dev and "
                          "libyaml-dev with apt-get, before pip compiles yamlstats.")
    _build(path, tag, context=YAMLSTATS)
    # Two builds, each with one more package on the builder's apt-get line: the first fills the
    # cache mounts whatever the build cache held; the second shows what apt fetches again.
    downloads: list[str] = []
    with tempfile.TemporaryDirectory(prefix="workshop-05-") as tmp:
        for probe in APT_PROBES:
            edited = Path(tmp) / path.name

            def add_probe(m: re.Match[str], probe: str = probe) -> str:
                return f"{m.group(0)} {probe}"

            edited.write_text(_APT_INSTALL.sub(add_probe, text, count=1))
            log = build(edited, tag, context=YAMLSTATS, quiet=True).log
            downloads = [name for name in _APT_GETS.findall(log) if name != probe]
    if downloads:
        mounted = {target for target in ("/var/cache/apt", "/var/lib/apt")
                   if re.search(rf"--mount=type=cache,(?:\S*,)?target={target}\b", text)}
        if "/var/cache/apt" not in mounted:
            raise CheckFailed(f"Adding one package to the apt-get line downloaded {len(downloads)} others again "
                              f"({', '.join(downloads[:3])}...): mount a cache at /var/cache/apt, where apt keeps "
                              "the packages it downloads, on that RUN (and one at /var/lib/apt for its lists).")
        raise CheckFailed(f"/var/cache/apt is a cache mount, yet adding one package downloaded {len(downloads)} "
                          f"others again ({', '.join(downloads[:3])}...): the base's /etc/apt/apt.conf.d/docker-clean "
                          "deletes every package file after installing it. Remove that file before the apt-get RUN.")
    _expect_output(tag, path, YAMLSTATS_OUTPUT, 'CMD ["python", "-m", "yamlstats", "samples/training.yaml"]')


# --- lesson 06 ----------------------------------------------------------------------------------

#: Messages whose team the trained router gets right, with a margin (exercises 04, 06 and 10).
TRANSFER_MESSAGES = {"I was charged twice and want a refund": "billing",
                     "My parcel never arrived and tracking is stuck": "shipping",
                     "The app crashes when I log in": "technical"}
#: Routes TRANSFER_MESSAGES in the image, without a server: `import serve` loads the model as the
#: API does, from the image's own working directory.
_ROUTE_IN_PROCESS = ("import json, sys, serve; messages = json.loads(sys.argv[1]); "
                     "print(json.dumps(dict(zip(messages, map(str, serve.model.predict(messages))))))")


@exercise("06-bake-the-model", title="Bake another app's model into its image", lesson="06")
def bake_the_model(path: Path) -> None:
    tag = _tag("06-bake-the-model", path)
    _expect_stages_named(path, "train is the one that writes the model")
    _build(path, tag, context=TRANSFER_APP)
    image = analyze(tag)
    if any(file.path.endswith("/tickets.csv") for file in image.files):
        raise CheckFailed("The training data (tickets.csv) is in the image: copy only the file the train stage "
                          "writes, /model/router.joblib.")
    model = next((file.path for file in image.files if file.path.endswith(".joblib")), None)
    if model is None:
        raise CheckFailed(f"No layer of {tag} holds the trained model: COPY --from=train /model/router.joblib "
                          "into the runtime stage.")
    model_layer, app_layer = (_first_layer_adding(image, suffix) for suffix in (".joblib", "/serve.py"))
    if app_layer is not None and model_layer is not None and app_layer < model_layer:
        raise CheckFailed("The model is copied after serve.py: every edit to the app would copy the model again. "
                          "Copy it before COPY serve.py.")
    done = run_container(tag, ["python", "-c", _ROUTE_IN_PROCESS, json.dumps(list(TRANSFER_MESSAGES))],
                         network_mode="none", timeout=120)
    if done.exit_code != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        env = engine.image_env(tag)
        if "MODEL_PATH" not in env and "model.joblib" in done.stderr:
            named = " (MODEL_ID is the classifier's setting, not this app's)" if "MODEL_ID" in env else ""
            raise CheckFailed(f"serve.py found no model: it loads the file MODEL_PATH names, and model.joblib beside "
                              f"itself without it{named}. Set ENV MODEL_PATH to {'/' + model}.")
        raise CheckFailed(f"serve.py cannot load its model in the image, with --network none: {last}")
    routed = json.loads(done.stdout.strip().splitlines()[-1])
    wrong = {message: team for message, team in routed.items() if TRANSFER_MESSAGES[message] != team}
    if wrong:
        message, team = next(iter(wrong.items()))
        raise CheckFailed(f"The baked model routes {message!r} to {team}, not {TRANSFER_MESSAGES[message]}: copy "
                          "the file the train stage wrote, /model/router.joblib.")


def _first_layer_adding(image, suffix: str) -> int | None:
    """The position of the first layer of `image` (an analysis) that adds a file whose path ends with `suffix`."""
    return next((i for i, layer in enumerate(image.layers)
                 if any(change.change == "added" and change.path.endswith(suffix) for change in layer.files)), None)


# --- lesson 07 ----------------------------------------------------------------------------------


#: How long the hardening check waits for Docker to call the container healthy once the API answers:
#: a few intervals of the health check (Docker's default interval is 30 s).
HEALTHY_WITHIN_S = 100


@exercise("07-production-hardening", title="Harden another app's image", lesson="07")
def production_hardening(path: Path) -> None:
    tag = _tag("07-production-hardening", path)
    _build(path, tag, context=TRANSFER_APP)
    image = engine.get_image(tag)
    config_ = image.attrs["Config"]
    user = (config_.get("User") or "").split(":")[0]
    if user in ("", "0", "root"):
        raise CheckFailed(f"The image built from {path.name} runs as root: create a user with a fixed UID "
                          "(useradd --uid) and switch to it with USER near the end.")
    if not user.isdigit():
        raise CheckFailed(f"The image runs as `{user}`, a name: use the numeric UID in USER (USER 10001:10001), "
                          "so that Kubernetes' runAsNonRoot can verify it is not root without reading /etc/passwd.")
    health = config_.get("Healthcheck") or {}
    if not health.get("Test") or health["Test"][0] == "NONE":
        raise CheckFailed(f"The image built from {path.name} has no HEALTHCHECK: add one whose command asks the "
                          "API's GET /health, with the Python the image already has (no curl in slim).")
    for tool in ("curl", "wget"):
        _expect(checks.tool_absent, tag, tool,
                sentence=f"The image built from {path.name} has {tool}, which slim does not: let the HEALTHCHECK "
                         "fetch GET /health with the Python the image already has, and install nothing for it.")
    command = config_.get("Cmd") or []
    if not any("waitress" in part for part in command):
        raise CheckFailed(f"The image's CMD is {json.dumps(command)}, which does not start waitress: end with the CMD "
                          "that serves the router (exercise 06's was waitress-serve --port=8080 serve:app).")
    try:
        # --read-only and nothing else: no tmpfs, no volume, as the goal's platform runs it.
        with serve(tag, command=command, model=False, read_only=True, timeout=60) as server:
            _route_through(server)
            status = _health_status(server.container)
            runs = server.container.attrs["State"].get("Health", {}).get("Log") or []
            last_probe = (f"exit code {runs[-1]['ExitCode']}, output: {runs[-1]['Output'].strip()[-300:] or '(none)'}"
                          if runs else "")
            if status != "healthy":
                waited = f" after {HEALTHY_WITHIN_S} s" if status == "starting" else ""
                raise CheckFailed(f"The API answers, but Docker calls the container `{status}`{waited}. Your "
                                  f"HEALTHCHECK's last run: {last_probe or '(no run recorded)'}")
            for size in (LARGE_BODY, OVER_CAP):
                answer = _post_headers_first(server.url, "/route", size)
                if answer is None:
                    raise CheckFailed(f"A {engine.human(size)} request body got no answer: the server closed the "
                                      f"connection, and its log says {_last_exception(server.logs())}. waitress writes a body "
                                      "over 512 KiB to a temporary file, and this root has no writable folder: cap "
                                      "the body (waitress-serve --help) so that waitress answers 413 before "
                                      "storing it.")
                if answer != 413:
                    raise CheckFailed(f"A {engine.human(size)} request body was answered {answer}, not 413: the goal "
                                      "caps bodies at 64 KiB (waitress-serve --help names the option), so that no "
                                      "request is read into memory or onto disk whole.")
    except docker.errors.APIError as error:
        raise _cannot_start(error, path, 'a CMD that starts waitress-serve on port 8080') from None
    except RunFailed as failure:
        last = failure.tail.strip().splitlines()[-1:] or ["(no output)"]
        raise CheckFailed(f"The image does not serve GET /health on port 8080 with --read-only: {last[0]}") from None


#: The bodies sent to test the hardened router's cap (the goal's 64 KiB): one over waitress's 512 KiB
#: kept in memory, one over the cap.
LARGE_BODY = 10**6
OVER_CAP = 100_000


def _last_exception(log: str) -> str:
    """The last exception a server's log names, as `Type: message` (waitress logs it inside a long line)."""
    found = re.findall(r"<class '(\w+)'>:(.*?) \[/", log) or re.findall(r"^(\w+(?:Error|Exception)): (.*)$", log, re.MULTILINE)
    return f"{found[-1][0]}: {found[-1][1].strip()[:200]}" if found else "nothing about it"


def _route_through(server) -> None:
    """Route TRANSFER_MESSAGES through the running router's POST /route; CheckFailed on a wrong answer."""
    for message, team in TRANSFER_MESSAGES.items():
        answer = server.post("/route", json={"message": message})
        got = answer.json().get("team") if answer.status_code == 200 else f"HTTP {answer.status_code}"
        if got != team:
            raise CheckFailed(f"POST /route with {message!r} answered {got}, not {team}: is the model file the one "
                              "train.py wrote from data/tickets.csv?")


def _post_headers_first(url: str, path: str, size: int) -> int | None:
    """POST a JSON body of `size` bytes, its headers first: a server that refuses the request from
    its Content-Length answers before the body is sent (and reads none of it); one that waits
    gets the body a second later. The final status, or None when the connection closed without one."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    body = json.dumps({"message": "x" * (size - 15)}).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    received = b""
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(head)
        try:
            connection.settimeout(1)
            try:
                received = _read_status(connection, received)
            except TimeoutError:  # no answer from the headers alone: the server wants the body
                connection.settimeout(10)
                connection.sendall(body)
                received = _read_status(connection, received)
        except (ConnectionError, TimeoutError):
            return None
    status = re.match(rb"HTTP/1\.[01] (\d{3})", received)
    return int(status[1]) if status else None


def _read_status(connection: socket.socket, received: bytes) -> bytes:
    """Read until a whole status line and headers are in `received` (or the server closes)."""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def _health_status(container) -> str:
    """The container's health as Docker reports it, once it is no longer "starting" (or the wait ends)."""
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while True:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status", "none")
        if status != "starting" or time.monotonic() > deadline:
            return status
        time.sleep(1)


# --- lesson 08 ----------------------------------------------------------------------------------


@exercise("08-serve-the-export", title="Serve another model from its ONNX export, without its framework (optional)", lesson="08")
def serve_the_export(path: Path) -> None:
    tag = _tag("08-serve-the-export", path)
    _expect_stages_named(path, "export_onnx.py writes router.onnx in the stage you write for it")
    _build(path, tag, context=TRANSFER_APP)
    # scikit-learn brings SciPy: an image without it has a venv that requirements.txt did not make.
    _expect(checks.cannot_import, tag, "sklearn",
            sentence=f"scikit-learn is in the image built from {path.name}: copy the venv of a stage that installs "
                     "onnx-requirements.txt only, not the builder's or the train stage's venv.")
    model = engine.image_env(tag).get("MODEL_PATH", "")
    if not model.endswith(".onnx"):
        named = f"MODEL_PATH={model}" if model else "no MODEL_PATH"
        raise CheckFailed(f"The image has {named}: serve.py loads the file MODEL_PATH names, and runs it with "
                          "ONNX Runtime when its name ends in .onnx. Copy the export stage's router.onnx into the "
                          "runtime and name it there.")
    found = run_container(tag, ["python", "-c", "import os, sys; print(os.path.isfile(sys.argv[1]))", model],
                          network_mode="none")
    if found.stdout.strip() != "True":
        raise CheckFailed(f"MODEL_PATH is {model}, but no file is there: COPY --from the export stage the file "
                          "export_onnx.py wrote, to that path.")
    _route_messages(tag, path)


def _expect_stages_named(path: Path, writer: str) -> None:
    """Refuse, before building, a COPY --from that names no stage of the Dockerfile (nor an image)."""
    text = path.read_text()
    stages = set(re.findall(r"^\s*FROM\s+\S+\s+AS\s+(\S+)", text, re.IGNORECASE | re.MULTILINE))
    for source in re.findall(r"--from=(\S+)", text):
        if source not in stages and not re.search(r"[:/.]", source):
            raise CheckFailed(f"COPY --from={source} names no stage of {path.name}: its stages are "
                              f"{', '.join(sorted(stages))}, and {writer}.")


# --- lesson 09 ----------------------------------------------------------------------------------

#: Where a distroless image records each Debian package it holds (one file per package).
_PACKAGE_RECORDS = "var/lib/dpkg/status.d/"


@exercise("09-distroless-runtime", title="Put another app on a distroless root (optional)", lesson="09")
def distroless_runtime(path: Path) -> None:
    tag = _tag("09-distroless-runtime", path)
    _expect_stages_named(path, "builder holds the venv, rootfs the root filesystem")
    _build(path, tag, context=YAMLSTATS)
    for tool in ("sh", "apt-get", "dpkg"):
        _expect(checks.tool_absent, tag, tool,
                sentence=f"The image built from {path.name} has `{tool}`: its last stage must start FROM scratch "
                         "and receive only the rootfs stage's /rootfs, the venv's packages and the samples.")
    _expect(checks.runs_as_non_root, tag,
            sentence=f"The image built from {path.name} runs as root: end the last stage with USER 10001:10001 "
                     "(the rootfs stage wrote that user into /etc/passwd).")
    _expect_yamlstats(tag, no_library=f"python3 cannot load {_NO_LIBYAML} in the image built from {path.name}: the "
                      "rootfs holds the packages lesson 09 listed for the classifier, and yamlstats links one more "
                      "library. Add Debian's package of it (exercise 04 installed it) to /rootfs, unpacked and "
                      "recorded in var/lib/dpkg/status.d/ as the stage does for the others.",
                      no_module=f"python3 in the image built from {path.name} cannot import yamlstats: copy the "
                      "builder venv's site-packages and set ENV PYTHONPATH to that folder (the venv's bin/python "
                      "points at the builder's interpreter, which the rootfs does not have).",
                      no_python=f"The image built from {path.name} has no python3 that starts: COPY --from=rootfs "
                      "/rootfs / brings Debian's, with ENV PATH=/usr/bin; the venv's bin/python points at the "
                      "builder's interpreter, which is not in the image (copy only its site-packages).")
    _expect(checks.cannot_import, tag, "pip",
            sentence=f"pip is in the image built from {path.name}: a package manager, and the goal says none. The "
                     "builder's venv had it; copy its site-packages without pip (the builder removes it last).")
    _expect_output(tag, path, YAMLSTATS_OUTPUT, 'WORKDIR /srv, COPY samples/ samples/, '
                   'ENTRYPOINT ["python3", "-m", "yamlstats"] and CMD ["samples/training.yaml"]')
    files = {file.path.lstrip("/") for file in analyze(tag).files}
    library = next((name for name in files if name.endswith(f"/{_NO_LIBYAML}")), None)
    if library and not any(name.startswith(_PACKAGE_RECORDS + "libyaml") for name in files):
        raise CheckFailed(f"{library} is in the image, but no record in /{_PACKAGE_RECORDS} names its package: a "
                          "scanner listing the image's packages will not see libyaml, nor the fixes it misses. Add "
                          "Debian's libyaml-0-2 to /rootfs as the stage adds the others: unpacked, its control "
                          "fields and md5sums recorded.")


# --- helpers ------------------------------------------------------------------------------------


def _builder_lines(dockerfile: str) -> str:
    """The first stage of a Dockerfile's text (up to its second FROM), comment lines left out."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    starts = [i for i, line in enumerate(lines) if re.match(r"\s*FROM\s", line, re.IGNORECASE)]
    return "\n".join(lines[:starts[1]] if len(starts) > 1 else lines)


def _install_step(result: BuildResult, path: Path, hint: str) -> str:
    """The build's last `pip install` step, or CheckFailed saying the Dockerfile installs nothing."""
    installs = [step for step in result.steps if "pip install" in step]
    if not installs:
        raise CheckFailed(f"{path.name} installs nothing: {hint}.")
    return installs[-1]


def _expect(check, *args: str, sentence: str) -> None:
    """Run one of workshop.checks; on failure, say it in this exercise's words."""
    try:
        check(*args)
    except CheckFailed:
        raise CheckFailed(sentence) from None


def _cannot_start(error: docker.errors.APIError, path: Path, ending: str) -> CheckFailed:
    """The sentence for a container the engine could not start (its command names no program there)."""
    why = re.search(r'exec: ("[^"]*": [^:]+)', str(error.explanation or error))
    return CheckFailed(f"A container of the image built from {path.name} cannot start"
                       f"{': ' + why.group(1) if why else ''}. Its command must name a program the image has, "
                       f"in exec form (a JSON list: no shell runs it): end with {ending}.")


def _expect_output(tag: str, path: Path, expected: str, ending: str) -> None:
    """The image's own command runs to its end and prints `expected`; else say how the file should end."""
    try:
        done = run_container(tag, timeout=300)
    except docker.errors.APIError as error:  # the engine could not start the command at all
        raise _cannot_start(error, path, ending) from None
    if done.exit_code != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise CheckFailed(f"The image built from {path.name} fails when it runs its command: {last}")
    if expected not in done.stdout:
        raise CheckFailed(f"The image built from {path.name} runs, but its command does not print the sample's "
                          f"counts: end with {ending}.")


# --- lesson 10: the transfer exercise -----------------------------------------------------------

#: The reference answer (two stages on python:3.11-slim-bookworm) is 445 MB on x86_64 here, its runtime on
#: python:3.11-bookworm instead 1.12 GB (2026-11-30, our stand-in base images).
TRANSFER_BUDGET = "500 MB"


@exercise("10-transfer-app", title="Containerize a whole app, from an empty Dockerfile", lesson="10")
def transfer_app(path: Path) -> None:
    tag = _tag("10-transfer-app", path)
    stages = re.findall(r"^\s*FROM\s", path.read_text(), re.IGNORECASE | re.MULTILINE)
    if not stages:
        raise CheckFailed(f"{path.name} has no FROM line yet: start the builder stage FROM python:3.11-slim-bookworm.")
    if len(stages) < 2:
        raise CheckFailed(f"{path.name} has one stage: install and train in a builder stage, then start a second "
                          "FROM and copy only the venv, serve.py and model.joblib into it.")
    _build(path, tag, context=TRANSFER_APP)
    _expect(checks.runs_as_non_root, tag, sentence=f"The image built from {path.name} runs as root: end with "
            "USER and a fixed, numeric UID such as 10001.")
    image = engine.get_image(tag)
    _expect(checks.size_under, tag, TRANSFER_BUDGET,
            sentence=f"The image is {human(image_size(image))}, over {TRANSFER_BUDGET}: start the runtime stage "
                     "from python:3.11-slim-bookworm and copy the venv into it, not the whole builder.")
    files = [f.path for f in analyze(tag).files]
    if not any(p.endswith("/model.joblib") for p in files):
        raise CheckFailed("The image has no model.joblib: run train.py in the builder and COPY --from the "
                          "file it writes into the runtime stage.")
    if any(p.endswith("/tickets.csv") for p in files):
        raise CheckFailed("The training data (tickets.csv) is in the image: train in the builder stage and copy "
                          "only model.joblib out of it.")
    command = image.attrs["Config"].get("Cmd")
    if not command:
        raise CheckFailed(f"{path.name} has no CMD: end with one that starts waitress on port 8080 "
                          "(waitress-serve --port=8080 serve:app).")
    _route_messages(tag, path, command)
    _rebuild_after_serve_edit(path, tag)


def _rebuild_after_serve_edit(path: Path, tag: str) -> list[str]:
    """Build `path` again after a one-line change to a copy of the ticket router's serve.py; the
    steps that ran, or CheckFailed if pip install was one of them."""
    # Stopped as soon as pip runs again: that is the answer, and a reinstall would take a while.
    change = rebuild.rebuild_after_edit(path, edit="serve.py", tag=tag, root=TRANSFER_APP, build_first=False,
                                        give_back=False, stop_at=_PIP_RUNS)
    rerun = [step for step in change.steps_run if "pip install" in step]
    if rerun:
        raise CheckFailed(f"Changing one line of serve.py re-ran `{rerun[0]}`: copy requirements.txt alone before "
                          "pip install, and serve.py after it.")
    return change.steps_run


def _route_messages(tag: str, path: Path, command: list[str] | None = None) -> None:
    """Start the ticket router's image (its own CMD, or `command`) and route TRANSFER_MESSAGES through POST /route."""
    command = command or engine.get_image(tag).attrs["Config"].get("Cmd")
    try:
        with serve(tag, command=command, model=False, timeout=60) as server:
            _route_through(server)
    except docker.errors.APIError as error:
        raise _cannot_start(error, path, 'CMD ["waitress-serve", "--port=8080", "serve:app"] (after the venv is copied)') from None
    except RunFailed as failure:
        last = failure.tail.strip().splitlines()[-1:] or ["(no output)"]
        raise CheckFailed(f"The image built from {path.name} does not serve GET /health on port 8080: {last[0]}") from None
