"""The static HTML edition (make html): built offline, read in a real browser.

The edition is built from the notebooks' stored outputs into a temporary
folder, served from 127.0.0.1, and every page is opened in Debian's headless
Chromium through playwright: nothing may be fetched from anywhere else or
fail to load, nothing may log an error, every stored figure must be on the
page and drawn, and every stored widget view must be rendered. The browser
checks skip, in one line, where there is no Chromium or no playwright; the
checks of the vendored widget scripts always run.
"""

import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
EDITION = ROOT / "edition"
VENDOR = EDITION / "vendor"
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
PAGES = ["index"] + [f"book/{nb.stem}" for nb in NOTEBOOKS]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
BUILD_SECONDS = 60          # the time budget of the build in `make test`
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


# --- the vendored widget scripts -------------------------------------------------

def _sums():
    """{path relative to vendor/: sha256} from vendor/SHA256SUMS."""
    sums = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name] = digest
    return sums


def test_vendored_files_match_their_checksums():
    sums = _sums()
    assert sums, "vendor/SHA256SUMS lists nothing"
    for name, digest in sums.items():
        data = (VENDOR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{name} differs from SHA256SUMS"


def test_every_vendored_script_and_font_is_checksummed_and_licensed():
    sums = _sums()
    served = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*")
              if p.is_file() and p.suffix in (".js", ".woff2")}
    assert served == set(sums)
    for folder in {Path(name).parent for name in sums}:
        assert (VENDOR / folder / "LICENSE").is_file(), f"{folder} has no LICENSE"
        assert re.search(r"-\d+\.\d+\.\d+$", folder.name), f"{folder} does not name its version"


def test_the_widget_scripts_the_pages_load_are_served():
    ns = {}
    exec((EDITION / "conf.py").read_text(), ns)
    for path in ns["nb_ipywidgets_js"]:
        assert not urlsplit(path).scheme and not path.startswith("//"), path
        assert any((EDITION / d / path).is_file() for d in ns["html_static_path"]), path


# --- what each notebook stores ---------------------------------------------------

def _reachable(state, roots):
    """The ids of the widget models reachable from roots through IPY_MODEL_ references."""
    seen, todo = set(), list(roots)
    while todo:
        model_id = todo.pop()
        if model_id in seen or model_id not in state:
            continue
        seen.add(model_id)
        todo.extend(re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model_id]["state"])))
    return seen


def _expected(notebook):
    """What the page of one notebook must show: figures, widget views, figures in widgets."""
    nb = json.loads(notebook.read_text())
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    figures, views = 0, []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data and data[WIDGET_VIEW]["model_id"] in state:
                views.append(data[WIDGET_VIEW]["model_id"])
            elif "image/png" in data:
                figures += 1
    widget_figures = sum(
        "image/png" in out.get("data", {})
        for model_id in _reachable(state, views)
        for out in state[model_id]["state"].get("outputs", [])
    )
    return {"figures": figures, "views": len(views), "widget_figures": widget_figures}


# --- the build -------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The edition built as `make html` builds it, into a temporary folder."""
    pytest.importorskip("myst_nb", reason="the HTML edition needs the html extra: pip install -e '.[html]'")
    pytest.importorskip("sphinx_book_theme", reason="the HTML edition needs the html extra")
    tmp = tmp_path_factory.mktemp("edition")
    out = tmp / "html"
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going",
         "-d", str(tmp / "doctrees"), str(EDITION), str(out)],
        capture_output=True, text=True, timeout=5 * BUILD_SECONDS,
    )
    took = time.monotonic() - start
    assert run.returncode == 0, f"sphinx-build failed:\n{run.stdout}\n{run.stderr}"
    assert took <= BUILD_SECONDS, f"the build took {took:.1f} s (budget {BUILD_SECONDS} s)"
    return out


def test_every_chapter_has_a_page_in_file_order(site):
    index = (site / "index.html").read_text()
    linked = re.findall(r'href="book/([^"#]+)\.html"', index)
    assert list(dict.fromkeys(linked)) == [nb.stem for nb in NOTEBOOKS]
    for page in PAGES:
        assert (site / f"{page}.html").is_file(), page


def _text(html):
    """The words of a page, without its tags."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_intro_page_says_once_that_controls_need_jupyterlab(site):
    said = [page for page in PAGES
            if "Interactive controls need JupyterLab: run make lab" in _text((site / f"{page}.html").read_text())]
    assert said == ["index"]


_ASSET = re.compile(r'<(?:script|img|link|source|iframe)\b[^>]*?\b(?:src|href)="([^"]*)"')


@pytest.mark.parametrize("page", PAGES)
def test_pages_name_no_outside_asset(site, page):
    html = (site / f"{page}.html").read_text()
    outside = [url for url in _ASSET.findall(html) if urlsplit(url).netloc or urlsplit(url).scheme]
    assert outside == []


# --- in the browser --------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no {CHROMIUM}: apt-get install chromium to run the HTML edition's browser checks")
    sync_api = pytest.importorskip("playwright.sync_api", reason="no playwright: pip install -e '.[test]'")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, url):
    """Load url; return the page and what went wrong while it loaded."""
    context = browser.new_context()
    page = context.new_page()
    problems = []

    def route(r):
        if urlsplit(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            problems.append(f"outside request: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url, wait_until="load")
    return context, page, problems


_COUNT = """() => {
    const inWidget = (el) => el.closest('.widget-subarea') !== null;
    const imgs = Array.from(document.querySelectorAll('.cell_output img'));
    const drawn = (img) => img.complete && img.naturalWidth > 0;
    return {
        figures: imgs.filter((i) => !inWidget(i)).length,
        figures_drawn: imgs.filter((i) => !inWidget(i) && drawn(i)).length,
        views: document.querySelectorAll('.widget-subarea > .jupyter-widgets').length,
        widget_figures: imgs.filter(inWidget).length,
        widget_figures_drawn: imgs.filter((i) => inWidget(i) && drawn(i)).length,
    };
}"""


@pytest.mark.parametrize("page", PAGES)
def test_page_in_chromium(browser, server, page):
    notebook = ROOT / f"{page}.ipynb"
    want = _expected(notebook) if notebook.exists() else {"figures": 0, "views": 0, "widget_figures": 0}
    context, tab, problems = _open(browser, server + f"{page}.html")
    try:
        try:
            if want["views"]:
                # the renderer starts at window load and draws the views asynchronously
                tab.wait_for_function(
                    f"document.querySelectorAll('.widget-subarea > .jupyter-widgets').length >= {want['views']}",
                    timeout=15_000,
                )
            tab.wait_for_function("Array.from(document.images).every((i) => i.complete)", timeout=15_000)
        except Exception as e:  # playwright's TimeoutError: say what the page did meanwhile
            pytest.fail(f"{page} did not finish drawing: {e}\n" + "\n".join(problems))
        got = tab.evaluate(_COUNT)
        text = tab.inner_text("body")
    finally:
        context.close()

    assert problems == []
    assert "Error displaying widget" not in text
    assert got["figures"] == got["figures_drawn"] == want["figures"], got
    assert got["views"] == want["views"], got
    assert got["widget_figures"] == got["widget_figures_drawn"] == want["widget_figures"], got
