"""The lesson site (workshop.site): built by Jupyter Book from the saved notebooks, read in a real browser.

Headless Chromium (Debian's, driven by Playwright) opens every page of the table of contents from a
static server on loopback: each page answers, every picture it shows has loaded, the lessons show
their tables and charts, no page is over the size budget, and every link between pages (and every
#anchor) leads somewhere.
"""

from __future__ import annotations

import functools
import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonhttp import free_port

from workshop import config, site

#: The largest page (lesson 02: a build log, layer tables, charts) is about 0.2 MB today.
PAGE_BUDGET_BYTES = 1_000_000
#: Lessons whose saved outputs include charts (matplotlib images) and tables (pandas).
CHARTS = ("02-naive-image", "04-multi-stage", "10-journey")
TABLES = ("02-naive-image", "03-slim-base", "04-multi-stage", "10-journey")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return site.build(tmp_path_factory.mktemp("site") / "html").parent


@pytest.fixture(scope="module")
def server(built) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _pages(built: Path) -> list[str]:
    """Every page of the table of contents, as paths below the site's root."""
    lessons = sorted(path.relative_to(built).as_posix() for path in (built / "notebooks").glob("[0-9][0-9]-*.html"))
    return ["index.html", *lessons, *[Path(page).with_suffix(".html").as_posix() for page, _ in site.EXTRA_PAGES]]


def test_the_site_has_every_lesson_and_says_what_made_its_outputs(built):
    lessons = sorted((config.REPO_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert sorted(path.stem for path in (built / "notebooks").glob("[0-9][0-9]-*.html")) == [p.stem for p in lessons]
    front = (built / "index.html").read_text()
    assert site.saved_run_date(lessons) in front and "sst2-minilm-l6" in front and "Docker 20.10" in front


def test_no_page_is_over_the_size_budget(built):
    sizes = {page: (built / page).stat().st_size for page in _pages(built)}
    assert max(sizes.values()) < PAGE_BUDGET_BYTES, sorted(sizes.items(), key=lambda item: -item[1])[:3]


def test_every_page_renders_in_a_browser_with_its_pictures_tables_and_links(browser, built, server):
    page = browser.new_page()
    links, anchors = {}, {}
    for name in _pages(built):
        response = page.goto(server + name)
        assert response and response.status == 200, name
        pictures = page.eval_on_selector_all("main img", "imgs => imgs.map(i => [i.src, i.complete && i.naturalWidth > 0])")
        assert all(ok for _, ok in pictures), f"{name}: pictures that did not load: {[src for src, ok in pictures if not ok]}"
        stem = Path(name).stem
        if stem in CHARTS:
            assert len(pictures) >= 1, f"{name}: no chart"
        if stem in TABLES:
            assert page.locator("main table").count() >= 1, f"{name}: no table"
        anchors[server + name] = set(page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)"))
        for href in page.eval_on_selector_all("main a[href]", "links => links.map(a => a.href)"):
            if href.startswith(server):
                links.setdefault(href, name)
    page.close()
    broken = []
    for href, name in links.items():
        url = urllib.parse.urlsplit(href)
        target = urllib.parse.urlunsplit(url._replace(fragment=""))
        try:
            with urllib.request.urlopen(target, timeout=10):
                pass
        except urllib.error.HTTPError as error:
            broken.append(f"{name} -> {href} ({error.code})")
            continue
        if url.fragment and target in anchors and urllib.parse.unquote(url.fragment) not in anchors[target]:
            broken.append(f"{name} -> {href} (no such anchor)")
    assert len(links) > 20
    assert not broken, "\n".join(broken)
