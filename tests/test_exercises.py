"""Exercises: generated from solutions/, committed up to date, and checked for real.

The generator is tested on sample files; the registered exercises are tested on the committed
tree: each check passes on its solution and fails, with a sentence for the learner, on the
untouched exercise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workshop import exercises
from workshop.checks import CheckFailed
from workshop.config import IMAGE_REPO, REPO_ROOT
from workshop.exercises import Exercise, MarkerError

SAMPLE_NOTEBOOK_CODE = """\
numbers = [3, 1, 2]
### BEGIN SOLUTION: pick the biggest number
answer = max(numbers)
### END SOLUTION"""

SAMPLE_CHECK_CODE = """\
from workshop.checks import CheckFailed

if answer != 3:
    raise CheckFailed(f"answer is {answer}, but the biggest number is 3: look at max().")
print("Solved")"""

SAMPLE_DOCKERFILE = """\
FROM python:3.11-slim-bookworm AS builder
RUN python -m venv /opt/venv

FROM python:3.11-slim-bookworm
# BEGIN SOLUTION: copy the venv from the builder
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# END SOLUTION
CMD ["python"]
"""


def sample_notebook(code: str = SAMPLE_NOTEBOOK_CODE) -> nbformat.NotebookNode:
    """A solution notebook as an author saves it: outputs, execution counts, editor metadata."""
    cells = [
        new_markdown_cell("# Sample exercise", id="intro"),
        new_code_cell(code, id="work", execution_count=4, metadata={"tags": ["keep-me"], "collapsed": False},
                      outputs=[new_output("stream", name="stdout", text="3\n")]),
        new_code_cell(SAMPLE_CHECK_CODE, id="check", execution_count=5,
                      outputs=[new_output("stream", name="stdout", text="Solved\n")]),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"},
                                               "widgets": {"state": {}}, "author": "someone"})


def never_called(path):
    raise AssertionError("notebook exercises are checked by executing them")


def sample_registry() -> dict[str, Exercise]:
    return {
        "01-biggest": Exercise("01-biggest", "Pick the biggest number", "01", never_called),
        "04-venv": Exercise("04-venv", "Copy the venv", "04", never_called),
    }


@pytest.fixture
def sample_tree(tmp_path):
    """solutions/ with one notebook and one Dockerfile exercise, and an empty exercises/."""
    solutions, generated = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(sample_notebook(), solutions / "01-biggest.ipynb")
    (solutions / "04-venv.Dockerfile").write_text(SAMPLE_DOCKERFILE)
    return solutions, generated


def generate(sample_tree, check_only=False):
    solutions, generated = sample_tree
    return exercises.generate(check_only, solutions_dir=solutions, exercises_dir=generated,
                              exercises=sample_registry())


# --- the generator on samples -----------------------------------------------------------------


def test_notebook_solution_region_becomes_a_stub_that_raises_with_the_hint():
    """A code cell's BEGIN/END SOLUTION region becomes '# YOUR CODE HERE' and a NotImplementedError with the hint."""
    solution = sample_notebook()
    exercise = exercises.exercise_notebook(solution)
    assert exercise.cells[1].source == (
        'numbers = [3, 1, 2]\n# YOUR CODE HERE\nraise NotImplementedError("pick the biggest number")')
    assert exercise.cells[2].source == SAMPLE_CHECK_CODE
    assert solution.cells[1].source == SAMPLE_NOTEBOOK_CODE, "the solution must not change"


def test_notebook_stub_keeps_indentation_and_has_a_default_hint():
    """A region inside a block keeps its indentation; without hint text the stub gets a default one."""
    code = 'def biggest(xs):\n    ### BEGIN SOLUTION\n    return max(xs)\n    ### END SOLUTION'
    exercise = exercises.exercise_notebook(sample_notebook(code))
    assert exercise.cells[1].source == (
        'def biggest(xs):\n    # YOUR CODE HERE\n    raise NotImplementedError("write the code this exercise asks for")')


def test_exercise_notebook_has_no_outputs_counts_or_author_metadata():
    """Outputs and execution counts are cleared, cell metadata keeps only tags, notebook metadata is minimal."""
    exercise = exercises.exercise_notebook(sample_notebook())
    code = [c for c in exercise.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert [c.metadata for c in code] == [{"tags": ["keep-me"]}, {}]
    assert exercise.metadata == exercises.NOTEBOOK_METADATA
    assert [c.id for c in exercise.cells] == ["intro", "work", "check"]


def test_dockerfile_solution_region_becomes_one_comment_with_the_hint():
    """A Dockerfile's BEGIN/END SOLUTION region becomes a single '# YOUR CODE HERE: hint' line, indentation kept."""
    assert exercises.exercise_dockerfile(SAMPLE_DOCKERFILE) == SAMPLE_DOCKERFILE.replace(
        "# BEGIN SOLUTION: copy the venv from the builder\nCOPY --from=builder /opt/venv /opt/venv\n"
        "ENV PATH=/opt/venv/bin:$PATH\n# END SOLUTION\n",
        "# YOUR CODE HERE: copy the venv from the builder\n")
    assert exercises.exercise_dockerfile("FROM x\nRUN a && \\\n    # BEGIN SOLUTION\n    b\n    # END SOLUTION\n") \
        == "FROM x\nRUN a && \\\n    # YOUR CODE HERE: write the instructions this exercise asks for\n"


@pytest.mark.parametrize(("text", "error"), [
    ("FROM x\n# BEGIN SOLUTION\nRUN a\n", "never closed"),
    ("FROM x\n# END SOLUTION\n", "END SOLUTION without BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside another solution region"),
    ("FROM x\nRUN a\n", "no '# BEGIN SOLUTION' region"),
    ("FROM x\nRUN a  # BEGIN SOLUTION\n", "not on a line of its own"),
])
def test_unbalanced_or_missing_dockerfile_markers_are_errors(text, error):
    """Markers that do not pair up, or a file with none, stop the generator instead of leaking the solution."""
    with pytest.raises(MarkerError, match=error):
        exercises.exercise_dockerfile(text)


def test_markers_outside_code_cells_or_absent_are_errors():
    """A marker in a markdown cell, or a notebook without any region, stops the generator."""
    nb = sample_notebook()
    nb.cells[0].source = "### BEGIN SOLUTION\nthe answer is 3\n### END SOLUTION"
    with pytest.raises(MarkerError, match="code cells only"):
        exercises.exercise_notebook(nb)
    with pytest.raises(MarkerError, match="no ### BEGIN SOLUTION region"):
        exercises.exercise_notebook(sample_notebook("answer = 3"))


def test_generate_writes_every_exercise_and_an_index(sample_tree):
    """generate() writes each exercise under the same name plus a README index that names the check commands."""
    solutions, generated = sample_tree
    changed = generate(sample_tree)
    names = ["01-biggest.ipynb", "04-venv.Dockerfile", "README.md"]
    assert sorted(p.name for p in changed) == names
    assert sorted(p.name for p in generated.iterdir()) == names
    nbformat.validate(nbformat.read(generated / "01-biggest.ipynb", as_version=4))
    readme = (generated / "README.md").read_text()
    assert "| 01 | Pick the biggest number | [01-biggest.ipynb](01-biggest.ipynb) | " \
           "`python -m workshop check 01-biggest` |" in readme
    assert "`python -m workshop check 04-venv` |" in readme


def test_generate_is_deterministic_and_idempotent(sample_tree, tmp_path):
    """Generating twice, or into another folder, gives the same bytes; the second run changes nothing."""
    solutions, generated = sample_tree
    generate(sample_tree)
    first = {p.name: p.read_bytes() for p in generated.iterdir()}
    assert generate(sample_tree) == []
    other = tmp_path / "other"
    exercises.generate(solutions_dir=solutions, exercises_dir=other, exercises=sample_registry())
    assert {p.name: p.read_bytes() for p in other.iterdir()} == first
    # The format Jupyter itself writes: one-space indent, sorted keys, a final newline.
    text = first["01-biggest.ipynb"].decode()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_check_only_reports_edited_and_stale_files_without_touching_them(sample_tree):
    """With check_only, an edited exercise and one whose solution is gone are reported and left as they are."""
    solutions, generated = sample_tree
    generate(sample_tree)
    edited, stale = generated / "04-venv.Dockerfile", generated / "03-gone.Dockerfile"
    edited.write_text("FROM x\n")
    stale.write_text("FROM y\n")
    assert sorted(generate(sample_tree, check_only=True)) == sorted([edited, stale])
    assert edited.read_text() == "FROM x\n" and stale.exists()
    assert sorted(generate(sample_tree)) == sorted([edited, stale])
    assert not stale.exists() and "# YOUR CODE HERE: copy the venv" in edited.read_text()


def test_generate_refuses_solutions_without_a_registered_check(sample_tree):
    """A solution file nobody registered a check for (or a check without its file) is an error."""
    solutions, generated = sample_tree
    (solutions / "02-orphan.Dockerfile").write_text("# BEGIN SOLUTION\nFROM x\n# END SOLUTION\n")
    with pytest.raises(LookupError, match="no check registered for 02-orphan"):
        generate(sample_tree)
    (solutions / "02-orphan.Dockerfile").unlink()
    (solutions / "04-venv.Dockerfile").unlink()
    with pytest.raises(LookupError, match="registered exercises 04-venv"):
        generate(sample_tree)


def test_notebook_check_passes_on_the_solution_and_explains_what_is_missing(sample_tree):
    """Executing the sample: the solution passes, the generated exercise fails with its hint, a wrong answer with the check's sentence."""
    solutions, generated = sample_tree
    generate(sample_tree)
    dirs = {"solutions_dir": solutions, "exercises_dir": generated, "exercises": sample_registry()}
    assert exercises.check("01-biggest", solution=True, **dirs) is None
    with pytest.raises(CheckFailed) as untouched:
        exercises.check("01-biggest", **dirs)
    assert str(untouched.value) == (
        "01-biggest.ipynb is not finished: the cell In [1] still raises NotImplementedError "
        "(pick the biggest number); replace the '# YOUR CODE HERE' lines there with your code.")
    wrong = exercises.exercise_notebook(sample_notebook())
    wrong.cells[1].source = "numbers = [3, 1, 2]\nanswer = min(numbers)"
    nbformat.write(wrong, generated / "01-biggest.ipynb")
    with pytest.raises(CheckFailed, match=r"^answer is 1, but the biggest number is 3: look at max\(\)\.$"):
        exercises.check("01-biggest", **dirs)


# --- the committed exercises --------------------------------------------------------------------


def test_committed_exercises_match_their_solutions():
    """Regenerating exercises/ from solutions/ would change no committed file (else run generate-exercises)."""
    assert exercises.generate(check_only=True) == []


def _stages(path, names):
    """The text of the named build stages of a Dockerfile (each from its FROM line to the next)."""
    text, stages = (REPO_ROOT / path).read_text(), {}
    for block in text.split("\nFROM ")[1:]:
        head = block.split("\n", 1)[0]
        if (name := head.rsplit(" AS ", 1)[-1]) in names:
            # The stage's own lines: comments above the next FROM belong to that next stage.
            body = block.split("\n")
            while body and (body[-1].startswith("#") or not body[-1].strip()):
                body.pop()
            stages[name] = "\n".join(body)
    return stages


def test_distroless_exercise_gives_final_dockerfiles_rootfs_stage_unchanged():
    """Exercise 09 says its rootfs stage is lesson 09's as it is: final.Dockerfile's lines, to which
    the learner adds (the solution's one RUN after them), never edits."""
    final = _stages("dockerfiles/final.Dockerfile", ("rootfs",))["rootfs"]
    for path in ("exercises/09-distroless-runtime.Dockerfile", "solutions/09-distroless-runtime.Dockerfile"):
        ours = _stages(path, ("rootfs",))["rootfs"]
        assert ours.startswith(final), f"{path}: its rootfs stage differs from final.Dockerfile's"


def test_every_lesson_has_an_exercise():
    """Lessons 01 to 09 each have at least one registered exercise, and lesson 10 the transfer
    exercise (a second app), each with its file in solutions/; every lesson notebook from 01 on
    has its exercises."""
    registered = exercises.registry()
    lessons = sorted(path.name[:2] for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert lessons[0] == "00" and {ex.lesson for ex in registered.values()} == set(lessons[1:])
    for exercise_id in registered:
        exercises.source_path(exercise_id, exercises.SOLUTIONS_DIR)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=300, check=False)


def test_cli_lists_exercises_and_verifies_the_committed_tree():
    """`python -m workshop check` lists every exercise; `generate-exercises --check` passes on the committed tree."""
    listed = run_cli("check")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(exercises.registry())
    verified = run_cli("generate-exercises", "--check")
    assert (verified.returncode, verified.stdout) == (0, "exercises/ is up to date\n"), verified.stderr


def test_cli_rejects_an_unknown_exercise_with_the_known_ones():
    """`python -m workshop check NOPE` exits 2 and names the exercises that exist."""
    done = run_cli("check", "99-no-such-exercise")
    assert done.returncode == 2
    assert done.stdout.startswith("error: no exercise '99-no-such-exercise'; known: ")
    assert all(exercise_id in done.stdout for exercise_id in exercises.registry())


# --- every registered exercise, for real (builds images) ----------------------------------------


@pytest.fixture(scope="module")
def warm_build_cache():
    """Build the three main images first: exercise Dockerfiles share their first layers, so they come from cache."""
    from workshop.build import build

    for name in ("naive", "slim", "multistage"):
        build(name, f"{IMAGE_REPO}:{name}", quiet=True)


def leftover_containers(exercise_id: str) -> list[str]:
    """Workshop containers, running or stopped, started from this exercise's images."""
    from workshop import engine, run

    images = {f"{IMAGE_REPO}:ex-{exercise_id}", f"{IMAGE_REPO}:sol-{exercise_id}"}
    return [c.name for c in engine.client().containers.list(all=True, filters={"label": run.LABEL})
            if c.attrs["Config"]["Image"] in images]


@pytest.mark.docker
@pytest.mark.parametrize("exercise_id", list(exercises.registry()))
def test_check_passes_on_the_solution(exercise_id, warm_build_cache):
    """The exercise's check passes on its reference solution, and leaves no container behind."""
    exercises.check(exercise_id, solution=True)
    assert leftover_containers(exercise_id) == []


@pytest.mark.docker
@pytest.mark.parametrize("exercise_id", list(exercises.registry()))
def test_check_fails_on_the_untouched_exercise_with_a_sentence(exercise_id, warm_build_cache):
    """The check fails on the generated exercise with a sentence for the learner (no traceback), and leaves no container."""
    with pytest.raises(CheckFailed) as caught:
        exercises.check(exercise_id)
    message = str(caught.value)
    first = message.splitlines()[0] if message else ""
    assert len(first) > 20 and "Traceback" not in message, message
    assert leftover_containers(exercise_id) == []


# --- the transfer and model exercises: each usual mistake gets its own sentence ------------------

def _variant(tmp_path: Path, exercise_id: str, edits: list[tuple[str, str]],
             answer: str | tuple[str, ...] | None = None) -> Path:
    """The reference answer of `exercise_id` with one mistake in it: each (old, new) edit, where
    old occurs exactly once; with `answer`, the solution region replaced by it first (the regions
    one by one by a tuple of answers)."""
    text = exercises.source_path(exercise_id, exercises.SOLUTIONS_DIR).read_text()
    if answer is not None:
        answers = iter((answer,) * text.count("# BEGIN SOLUTION") if isinstance(answer, str) else answer)
        text = re.sub(r"(?ms)^# BEGIN SOLUTION\b.*?^# END SOLUTION\n", lambda _: next(answers), text)
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / f"{exercise_id}.Dockerfile"
    path.write_text(text)
    return path


def test_transfer_check_asks_for_two_stages_before_building(tmp_path):
    """One stage that does everything is refused from the Dockerfile's text, with what to split."""
    path = tmp_path / "10-transfer-app.Dockerfile"
    path.write_text("FROM python:3.11-slim-bookworm\nCOPY . .\nRUN pip install -r requirements.txt\n")
    with pytest.raises(CheckFailed, match="has one stage"):
        exercises.get("10-transfer-app").check(path)


_BAKE_COPY = "COPY --from=train /model/router.joblib /opt/model/router.joblib\n"


@pytest.mark.docker
@pytest.mark.parametrize(("exercise_id", "edits", "sentence"), [
    # the transfer exercise
    ("10-transfer-app", [("USER 10001\n", "")], "runs as root"),
    ("10-transfer-app", [("COPY --from=builder /srv/model.joblib .\n", "COPY --from=builder /srv/ .\n")],
     "training data"),
    ("10-transfer-app", [("COPY requirements.txt .\n", "COPY . .\n")], "Changing one line of serve.py re-ran"),
    # the model exercises
    ("06-bake-the-model", [(_BAKE_COPY, "")], "No layer of"),
    ("06-bake-the-model", [(_BAKE_COPY, ""), ("COPY serve.py .\n", "COPY serve.py .\n" + _BAKE_COPY)],
     "The model is copied after serve.py"),
    ("08-serve-the-export", [("COPY --from=onnx-venv /opt/venv /opt/venv\n", "COPY --from=train /opt/venv /opt/venv\n")],
     "scikit-learn is in the image"),
    ("08-serve-the-export", [("ENV MODEL_PATH=/opt/model/router.onnx\n", "ENV MODEL_ID=/opt/model/router.onnx\n")],
     "The image has no MODEL_PATH"),
    # the hardening and distroless exercises
    ("07-production-hardening", [("HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \\\n"
                                  "    CMD [\"python\", \"-c\", \"import urllib.request; urllib.request.urlopen("
                                  "'http://127.0.0.1:8080/health', timeout=4)\"]\n",
                                  "HEALTHCHECK --interval=2s --retries=1 "
                                  "CMD [\"python\", \"-c\", \"raise SystemExit('no health here')\"]\n")],
     "Your HEALTHCHECK's last run: exit code 1, output: no health here"),
    ("09-distroless-runtime", [('ENTRYPOINT ["python3", "-m", "yamlstats"]', 'ENTRYPOINT ["python", "-m", "yamlstats"]')],
     'cannot start: "python": executable file not found'),
    ("08-serve-the-export", [("COPY --from=onnx-venv /opt/venv /opt/venv\n", "")], 'cannot start: "waitress-serve"'),
    ("09-distroless-runtime", [("COPY --from=builder /opt/venv/lib/python3.11/site-packages /opt/venv/lib/python3.11/site-packages\n"
                                "ENV PATH=/usr/bin \\\n",
                                "COPY --from=builder /opt/venv /opt/venv\nENV PATH=/opt/venv/bin:/usr/bin \\\n")],
     "has no python3 that starts"),
    ("09-distroless-runtime", [("RUN pip install --no-cache-dir . && pip uninstall -y pip setuptools\n",
                                "RUN pip install --no-cache-dir .\n")], "pip is in the image"),
], ids=["root", "training-data-kept", "cache-order", "model-never-copied", "model-after-app", "train-venv-copied",
        "onnx-model-id-not-model-path", "health-check-fails", "python-not-python3", "no-venv-copied",
        "whole-venv-on-path", "pip-shipped"])
def test_check_names_the_mistake(tmp_path, exercise_id, edits, sentence):
    """Each usual mistake fails its exercise's check with the sentence that names it, and leaves no
    container: for the transfer app a root user, the training data copied into the runtime, or the
    app copied before pip install; for the model exercises the model never copied, the model
    copied after the app, the train stage's venv (scikit-learn) copied instead of the ONNX one, or
    the classifier's MODEL_ID set instead of the router's MODEL_PATH."""
    path = _variant(tmp_path, exercise_id, edits)
    try:
        with pytest.raises(CheckFailed, match=re.escape(sentence)):
            exercises.get(exercise_id).check(path)
        assert leftover_containers(exercise_id) == []
    finally:
        _remove_image(f"{IMAGE_REPO}:ex-{exercise_id}")


# --- the exercises transfer: the lesson's own diff does not pass ---------------------------------


def _remove_image(tag: str) -> None:
    """Remove `tag` if a build made it (a check may fail before or while building)."""
    import docker.errors

    from workshop import engine

    try:
        engine.client().images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass


def _with_answer(exercise_id: str, answer: str | tuple[str, ...], tmp_path: Path, edits: tuple[tuple[str, str], ...] = ()) -> Path:
    """The exercise's reference file with its solution region replaced by `answer` (and each
    (old, new) edit made elsewhere, old occurring once): what a learner who pasted it would have."""
    return _variant(tmp_path, exercise_id, list(edits), answer=answer)


#: Lesson 09's last stage, written for yamlstats (exercise 09's paths and command).
_DISTROLESS_STAGE = """\
FROM scratch AS final
COPY --from=rootfs /rootfs /
COPY --from=builder /opt/venv/lib/python3.11/site-packages /opt/venv/lib/python3.11/site-packages
ENV PATH=/usr/bin \\
    PYTHONPATH=/opt/venv/lib/python3.11/site-packages
WORKDIR /srv
COPY samples/ samples/
USER 10001:10001
ENTRYPOINT ["python3", "-m", "yamlstats"]
CMD ["samples/training.yaml"]
"""

#: Each Dockerfile exercise of lessons 03 to 09: the lesson's Dockerfile, the line there that
#: carries the lesson's idea, the lines the lesson adds as a learner would paste them (paths made
#: to fit the exercise where the lesson's own would not even be found), edits elsewhere in the
#: file, and the words of the sentence the check answers.
LESSON_DIFFS = {
    "03-fix-slim": ("dockerfiles/slim.Dockerfile", "libc6-dev", """\
RUN set -eux; \\
    apt-get update; \\
    apt-get install -y --no-install-recommends \\
        gcc \\
        libc6-dev \\
    ; \\
    pip install --no-cache-dir .; \\
    apt-get purge -y --auto-remove \\
        gcc \\
        libc6-dev \\
    ; \\
    rm -rf /var/lib/apt/lists/*
""", (), "finds no yaml.h"),
    "04-runtime-stage": ("dockerfiles/multistage.Dockerfile", "COPY --from=builder /opt/venv /opt/venv", """\
FROM python:3.11-slim-bookworm

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv
COPY samples/ samples/

CMD ["python", "-m", "yamlstats", "samples/training.yaml"]
""", (), "cannot load libyaml-0.so.2"),
    "04-cache-order": ("dockerfiles/multistage.Dockerfile", "COPY app/runtime-requirements.lock app/", """\
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python train.py data/tickets.csv model.joblib
""", (), "re-ran the training"),
    "05-cache-mount": ("dockerfiles/cache.Dockerfile", "RUN --mount=type=cache,target=/root/.cache/pip", """\
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libyaml-dev
""", (("RUN pip install --no-cache-dir .\n", "RUN --mount=type=cache,target=/root/.cache/pip pip install .\n"),),
        "mount a cache at /var/cache/apt"),
    "06-bake-the-model": ("dockerfiles/baked.Dockerfile", "COPY --from=model /model /opt/model", """\
COPY --from=model /model /opt/model
ENV MODEL_ID=/opt/model
""", (), "names no stage"),
    # The lesson's user and health check in the two regions, and exercise 06's CMD (gunicorn is not
    # this app's server).
    "07-production-hardening": ("dockerfiles/production.Dockerfile", "USER 10001:10001", ("""\
RUN groupadd --system --gid 10001 app && \\
    useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
""", """\
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \\
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
CMD ["waitress-serve", "--port=8080", "serve:app"]
"""), (), "No usable temporary directory"),
    # The lesson's runtime lines: its stages export a transformers model, none of them is here.
    "08-serve-the-export": ("dockerfiles/onnx.Dockerfile", "COPY --from=onnx-model /onnx /opt/model", ("", """\
COPY --from=pruned-venv /opt/venv /opt/venv
COPY --from=onnx-model /onnx /opt/model
ENV MODEL_ID=/opt/model
"""), (), "names no stage"),
    # The lesson's last stage with this app's paths and command, the rootfs left as the lesson's.
    "09-distroless-runtime": ("dockerfiles/final.Dockerfile", "FROM scratch AS final", ("", _DISTROLESS_STAGE), (),
                              "cannot load libyaml-0.so.2"),
}


@pytest.mark.parametrize("exercise_id", list(LESSON_DIFFS))
def test_lesson_diffs_come_from_their_lessons(exercise_id):
    """Each pasted diff carries its lesson's idea: the line it stands for is in that lesson's Dockerfile."""
    lesson, line, answer, _, _ = LESSON_DIFFS[exercise_id]
    assert line in (REPO_ROOT / lesson).read_text()
    assert line.split()[0] in "".join(answer)


@pytest.mark.docker
@pytest.mark.parametrize("exercise_id", list(LESSON_DIFFS))
def test_check_rejects_the_lessons_own_diff(tmp_path, exercise_id):
    """Pasting the lesson's diff into the exercise fails its check with a sentence that says what
    this subject needs that the lesson's did not (a library's headers, its runtime package, the
    training's place in the order, apt's own cache, the stage and setting this app uses)."""
    _, _, answer, edits, sentence = LESSON_DIFFS[exercise_id]
    path = _with_answer(exercise_id, answer, tmp_path, edits)
    try:
        with pytest.raises(CheckFailed, match=re.escape(sentence)):
            exercises.get(exercise_id).check(path)
        assert leftover_containers(exercise_id) == []
    finally:
        _remove_image(f"{IMAGE_REPO}:ex-{exercise_id}")


@pytest.mark.docker
@pytest.mark.parametrize(("exercise_id", "answer", "sentence"), [
    # purge --auto-remove takes the library apt installed only for libyaml-dev
    ("03-fix-slim", LESSON_DIFFS["03-fix-slim"][2].replace("libc6-dev \\\n", "libc6-dev \\\n        libyaml-dev \\\n"),
     "purge --auto-remove took it away"),
    # purge without --auto-remove: the package named gcc goes, gcc-12 (its dependency) stays
    ("03-fix-slim", """\
RUN set -eux; \\
    apt-get update; \\
    apt-get install -y --no-install-recommends gcc libc6-dev libyaml-dev libyaml-0-2; \\
    pip install --no-cache-dir .; \\
    apt-get purge -y gcc libc6-dev libyaml-dev; \\
    rm -rf /var/lib/apt/lists/*
""", "Purge with --auto-remove"),
    # the mounts without removing docker-clean: apt deletes every package it installs
    ("05-cache-mount", """\
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,target=/var/lib/apt,sharing=locked \\
    apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libyaml-dev
""", "docker-clean"),
    # the lesson's variable for this app's file
    ("06-bake-the-model", "COPY --from=train /model /opt/model\nENV MODEL_ID=/opt/model\n", "loads the file MODEL_PATH names"),
    # waitress told to keep bodies in memory instead of capping them
    ("07-production-hardening", (LESSON_DIFFS["07-production-hardening"][2][0],
                                 LESSON_DIFFS["07-production-hardening"][2][1].replace(
                                     '"--port=8080", ', '"--port=8080", "--inbuf-overflow=4000000", ')),
     "answered 200, not 413"),
    # the library's file copied from the builder: it loads, but no package record names it
    ("09-distroless-runtime", ("", _DISTROLESS_STAGE.replace(
        "COPY samples/", "COPY --from=builder /usr/lib/*-linux-gnu/libyaml-0.so.2* /usr/lib/\nCOPY samples/")),
     "no record in /var/lib/dpkg/status.d/ names its package"),
], ids=["runtime-library-auto-removed", "compiler-dependency-kept", "docker-clean-kept", "model-id-not-model-path",
        "body-kept-in-memory", "library-not-recorded"])
def test_check_names_the_transfer_step_missed(tmp_path, exercise_id, answer, sentence):
    """The lesson's diff adapted halfway fails with the sentence naming the step still missing."""
    path = _with_answer(exercise_id, answer, tmp_path)
    try:
        with pytest.raises(CheckFailed, match=re.escape(sentence)):
            exercises.get(exercise_id).check(path)
    finally:
        _remove_image(f"{IMAGE_REPO}:ex-{exercise_id}")


#: The images the lessons build, from their Dockerfiles in dockerfiles/.
LESSON_IMAGES = sorted(path.stem for path in (REPO_ROOT / "dockerfiles").glob("*.Dockerfile"))


@pytest.mark.docker
def test_no_solution_image_is_a_lessons_image(warm_build_cache):
    """No Dockerfile exercise's reference answer builds an image a lesson built (same ID): each
    applies its idea to another subject. The solutions' images are those their checks built
    (checked again here when this test runs alone)."""
    import docker.errors

    from workshop import engine

    client = engine.client()

    def image_id(tag: str) -> str | None:
        try:
            return client.images.get(tag).id
        except docker.errors.ImageNotFound:
            return None

    lessons = {found: name for name in LESSON_IMAGES if (found := image_id(f"{IMAGE_REPO}:{name}"))}
    assert {"naive", "slim", "multistage"} <= set(lessons.values())
    for exercise_id in exercises.registry():
        if not (exercises.SOLUTIONS_DIR / f"{exercise_id}.Dockerfile").exists():
            continue
        tag = f"{IMAGE_REPO}:sol-{exercise_id}"
        if image_id(tag) is None:
            exercises.check(exercise_id, solution=True)
        found = image_id(tag)
        assert found not in lessons, f"{exercise_id}'s solution is the lesson's {lessons.get(found)} image"
