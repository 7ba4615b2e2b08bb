"""The lesson site: the lessons with their outputs, to read after class, as Carpentries lessons are read.

    python -m workshop site [--out DIR]        # DIR/index.html; default results/site/

Built with Jupyter Book (Sphinx) from the reference notebooks as they are saved, outputs included
and nothing executed: every figure on the site is the one this repository's saved run measured,
and the front page says on which machine, engine, bases and model. Beside the lessons: the
glossary, the exercises with their hints folded, the instructor's guide and the README. The pages
link to the repository's files as they do in the repository (exercise stubs, Dockerfiles).

Jupyter Book lives in a virtual environment of its own under the workshop's cache folder (its
Sphinx and docutils pins are not the notebooks' business); the first build creates it from PyPI.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import venv
from datetime import datetime
from pathlib import Path

from workshop import config

log = logging.getLogger(__name__)

JUPYTER_BOOK = "jupyter-book==1.0.4.post1"
#: Pages after the lessons, in order: (path in the repository, title in the table of contents).
EXTRA_PAGES = (("notebooks/glossary.md", "Glossary"), ("exercises/README.md", "Exercises and hints"),
               ("exercises/01-call-the-api.ipynb", "Exercise 01"), ("exercises/02-biggest-layer.ipynb", "Exercise 02"),
               ("instructor/guide.md", "Instructor guide"), ("README.md", "The repository's README"),
               ("DEVELOPERS.md", "For developers"))
#: What made the saved outputs, besides their date (read from the notebooks). README's table of
#: the saved run says the same for each notebook.
MADE_WITH = ("Debian 12 (x86_64, 2 cores), Docker 20.10 (the classic image store), the offline stand-in base "
             "images of `workshop/offline.sh` (CPython 3.11.2 compiled into `/usr/local` on Debian bookworm), "
             "and the offline stand-in model `sst2-minilm-l6` (MiniLM fine-tuned on SST-2, 92 MB), not the hub's "
             "DistilBERT (268 MB)")
CONFIG = """title: Clean AI containers
author: The workshop's authors
only_build_toc_files: true
execute:
  execute_notebooks: "off"
html:
  use_repository_button: false
  announcement: "Outputs from the saved run of {date}: {short}. Yours will differ: run the lessons on your machine."
sphinx:
  config:
    html_show_copyright: false
    myst_heading_anchors: 3
    suppress_warnings: ["myst.header", "mystnb.unknown_mime_type"]
"""
INDEX = """# Clean AI containers

A BERT sentiment classifier (Hugging Face transformers, torch, Flask) in Docker, from a naive
image to a distroless one that gives the same answers: one idea per lesson.

This site is for reading after class: every lesson with the outputs of one run of all the
notebooks, in order, on {date}, on {made_with}. On your machine the sizes and times differ:
in class, work in the learner's edition (`python -m workshop learner`), which has no outputs, and
predict before you run.

- The lessons, in order, in the table of contents.
- The [glossary](notebooks/glossary.md), the [exercises and their hints](exercises/README.md), the
  [instructor guide](instructor/guide.md), the [README](README.md).
"""


def saved_run_date(lessons: list[Path]) -> str:
    """The day the lessons' saved outputs were made (their first code cell's run), as YYYY-MM-DD."""
    days = set()
    for path in lessons:
        cells = [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
        stamps = [cell["metadata"].get("execution", {}).get("iopub.execute_input") for cell in cells]
        days |= {datetime.fromisoformat(stamp.replace("Z", "+00:00")).date().isoformat() for stamp in stamps if stamp}
    if not days:
        raise ValueError("the notebooks have no saved run: run them in order first (README, the saved outputs)")
    return " to ".join(sorted(days)[:: max(1, len(days) - 1)])


def jupyter_book(tool_dir: Path | None = None) -> Path:
    """The jupyter-book program, installed into `tool_dir` (default: jupyter-book in
    config.CACHE_DIR) first if it is not there."""
    tool_dir = tool_dir or config.CACHE_DIR / "jupyter-book"
    program = tool_dir / "bin" / "jupyter-book"
    if not program.exists():
        log.info("installing %s into %s (once)", JUPYTER_BOOK, tool_dir)
        venv.create(tool_dir, with_pip=True, clear=True)
        subprocess.run([str(tool_dir / "bin" / "python"), "-m", "pip", "install", "-q", JUPYTER_BOOK], check=True)
    return program


def source_tree(root: Path) -> Path:
    """Copy the repository's tracked files (the pages and every file they link to) into `root`,
    with the book's table of contents, configuration and front page; return `root`."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=config.REPO_ROOT, capture_output=True, check=True,
                             text=True).stdout.split("\0")
    for name in filter(None, tracked):
        source = config.REPO_ROOT / name
        if source.is_file() and not name.startswith(("learner/", "tests/", ".")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    # The exercises point learners at their edition (learner/, no outputs); the site is the reference's.
    for page in (root / "exercises").glob("*.ipynb"):
        page.write_text(page.read_text().replace("](../learner/", "](../notebooks/"))
    lessons = sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    date = saved_run_date(lessons)
    (root / "_config.yml").write_text(CONFIG.format(date=date, short="Docker 20.10, stand-in bases and model"))
    (root / "index.md").write_text(INDEX.format(date=date, made_with=MADE_WITH))
    toc = ["format: jb-book", "root: index", "chapters:"]
    toc += [f"- file: notebooks/{path.stem}" for path in lessons]
    toc += [f"- file: {Path(page).with_suffix('')}\n  title: {title}" for page, title in EXTRA_PAGES]
    (root / "_toc.yml").write_text("\n".join(toc) + "\n")
    return root


def default_out() -> Path:
    """Where the site is built unless told: site in config.RESULTS_DIR."""
    return config.RESULTS_DIR / "site"


def build(out: Path | None = None) -> Path:
    """Build the site into `out` (default: default_out()); return its index.html."""
    out = out or default_out()
    program = jupyter_book()
    with tempfile.TemporaryDirectory(prefix="workshop-site-") as scratch:
        root = source_tree(Path(scratch) / "book")
        done = subprocess.run([str(program), "build", str(root), "--path-output", str(Path(scratch) / "out"),
                               "--builder", "html"], capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"jupyter-book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(Path(scratch) / "out" / "_build" / "html", out)
    log.info("the lesson site is in %s", out)
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=default_out(), help=f"default: {default_out()}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(build(args.out))
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
