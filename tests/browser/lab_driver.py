"""Drive the book in JupyterLab in a real browser: Debian's chromium through playwright.

Lab starts one JupyterLab server on a temporary copy of book/ (so Run All
never rewrites the committed notebooks), with a fresh workspace, settings
and data directory (a fresh trust database: the copies are trusted first,
as ``make lab`` does), and one chromium page on it. Chapter opens one
notebook in that page and reads what a reader sees: the widget views
rendered from the stored widget state, widgets shown as text, errors.
Everything waits on events in the page (promises, a MutationObserver);
nothing sleeps a fixed time.
"""

import json
import os

import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
START_TIMEOUT_S = 120
OPEN_TIMEOUT_MS = 120_000
RUN_ALL_TIMEOUT_MS = 300_000
REDRAW_TIMEOUT_MS = 60_000
REOPENS = 2

# JupyterLab settings of a reader who has said no to news and update checks:
# no pop-up over the notebook and no request to the network.
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False}}


def find_chromium():
    """The chromium to drive: Debian's at /usr/bin/chromium, or the one on PATH; None if none."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def chromium_version(path):
    """`chromium --version`, one line."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def stored_widgets(notebook):
    """The model ids of the widget views in a notebook's stored outputs, and the set of
    the models in its stored widget state (what a view is drawn from before any cell runs)."""
    nb = json.loads(Path(notebook).read_text())
    views = [out["data"][WIDGET_VIEW]["model_id"] for c in nb["cells"] if c["cell_type"] == "code"
             for out in c.get("outputs", []) if WIDGET_VIEW in out.get("data", {})]
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return views, set(state)


def app_cells(notebook):
    """Indices of the code cells that build a widgets.App."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    return [i for i, c in enumerate(cells)
            if c["cell_type"] == "code" and "widgets.App(" in "".join(c["source"])]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """One JupyterLab server on a copy of book/ and one chromium page on it (a context manager)."""

    def __init__(self, book, pythonpath, chromium):
        self.book, self.pythonpath, self.chromium = Path(book), pythonpath, chromium
        self.server = self.browser = self.page = self._pw = None

    def __enter__(self):
        try:
            self._start_server()
            self._start_browser()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_server(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="mmbook-lab-"))
        self.notebooks = self.tmp / "book"
        shutil.copytree(self.book, self.notebooks,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        settings = self.tmp / "settings"
        for name, value in SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(value))
        path = [self.pythonpath] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path),
                   JUPYTER_DATA_DIR=str(self.tmp / "data"),
                   JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"))
        subprocess.run([sys.executable, "-m", "jupyter", "trust",
                        *sorted(str(p) for p in self.notebooks.glob("*.ipynb"))],
                       env=env, check=True, capture_output=True, timeout=START_TIMEOUT_S)
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.log = open(self.tmp / "server.log", "w")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={self.port}",
             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
             f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}",
             f"--LabApp.user_settings_dir={settings}",
             f"--notebook-dir={self.notebooks}", "--LabApp.expose_app_in_browser=True",
             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
            + (["--allow-root"] if os.geteuid() == 0 else []),
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}/api/status?token={self.token}"
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.server.returncode}):\n{self.server_log()}")
            try:
                urllib.request.urlopen(url, timeout=5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer in {START_TIMEOUT_S} s:\n"
                                       f"{self.server_log()}")
                time.sleep(0.1)

    def _start_browser(self):
        from playwright.sync_api import sync_playwright
        self._pw = sync_playwright().start()
        args = (["--no-sandbox"] if os.geteuid() == 0 else []) + CHROMIUM_ARGS
        self.browser = self._pw.chromium.launch(executable_path=self.chromium, args=args)
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.goto(f"http://127.0.0.1:{self.port}/lab?token={self.token}")
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell",
                                    timeout=OPEN_TIMEOUT_MS)
        self.page.evaluate("() => window.jupyterapp.restored")

    def server_log(self, tail=4000):
        return (self.tmp / "server.log").read_text()[-tail:]

    def __exit__(self, *exc):
        for close in (lambda: self.browser.close(), lambda: self._pw.stop()):
            try:
                close()
            except Exception:
                pass
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def open(self, name):
        """Open book/<name> in the page; return its Chapter.

        If a view whose model is in the stored state shows "model not found",
        close and open it again (at most REOPENS times): jupyterlab_widgets 3.0 (5.0.16 of its
        lab extension) lets a view give up after polling 2 s for its model
        when the kernel's widget restore has finished first and the
        notebook's stored state is still loading, which happens here under
        heavy load (seen in one chapter of nine at load averages of 6-10 on
        2 cores). The chapter's .reopened then lists what each earlier open showed.
        """
        chapter, earlier = Chapter(self, name), []
        while (chapter.first_open["widget_errors"] and not chapter.unstored
               and len(earlier) < REOPENS):
            earlier.append(chapter.first_open)
            chapter.close()
            chapter = Chapter(self, name)
        chapter.reopened = earlier
        return chapter


# The page-side helpers, defined once per page load (window.__mmbook).
HELPERS = r"""
() => {
  if (window.__mmbook) return;
  const WIDGET_TEXT = /^\s*[A-Z]\w*\((children|value|layout|options|description)=/;
  // top-level outputs of the notebook (not the output areas inside Output widgets)
  const outputs = (root) => [...root.querySelectorAll('.jp-OutputArea-output')]
      .filter(o => !o.parentElement.closest('.jupyter-widgets'));
  const isView = (o) => o.firstElementChild && o.firstElementChild.classList.contains('jupyter-widgets');
  window.__mmbook = {
    panel: () => window.jupyterapp.shell.currentWidget,
    look(root) {
      const outs = outputs(root);
      const text = root.textContent;
      return {
        views: outs.filter(o => isView(o) && !o.textContent.includes('Error displaying widget')).length,
        as_text: outs.filter(o => !isView(o) && WIDGET_TEXT.test(o.textContent))
                     .map(o => o.textContent.slice(0, 120)),
        widget_errors: (text.match(/Error displaying widget[^\n]{0,80}/g) || []),
        stderr: [...root.querySelectorAll(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")]
            .map(o => o.textContent.slice(0, 2000)),
      };
    },
    cells(panel) {
      const cells = panel.content.model.cells;
      const out = [];
      for (let i = 0; i < cells.length; i++) {
        const c = cells.get(i);
        if (c.type !== 'code') continue;
        out.push({index: i, count: c.executionCount,
                  errors: c.outputs.toJSON().filter(o => o.output_type === 'error')
                          .map(o => o.ename + ': ' + o.evalue)});
      }
      return out;
    },
    // The signature of an app's figures: one entry per output of its Output widget.
    figures(app) {
      return [...app.querySelectorAll('.jupyter-widgets .jp-OutputArea-output')]
          .map(o => { const img = o.querySelector('img'); return img ? img.src : o.textContent; });
    },
  };
}
"""


class Chapter:
    """One notebook opened fresh in the Lab's page, and what was seen there."""

    def __init__(self, lab, name):
        self.lab, self.name, self.page = lab, name, lab.page
        self.path = lab.notebooks / name
        views, state = stored_widgets(self.path)
        self.expected_views = len(views)
        self.unstored = [v for v in views if v not in state]     # views that cannot show
        self.reopened = []
        self.app_cells = app_cells(self.path)
        self.page.evaluate(HELPERS)
        t0 = time.perf_counter()
        self.page.evaluate("""async (path) => {
            const app = window.jupyterapp;
            await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
            const panel = app.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
            await panel.revealed;
        }""", name)
        self.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                    timeout=OPEN_TIMEOUT_MS)
        # the widget manager renders the stored views (or fails to) after the notebook shows
        from playwright.sync_api import TimeoutError as PlaywrightTimeout
        try:
            self.page.wait_for_function(
                """(n) => { const s = window.__mmbook.look(window.__mmbook.panel().node);
                            return s.views + s.widget_errors.length + s.as_text.length >= n; }""",
                arg=self.expected_views, timeout=30_000, polling=100)
        except PlaywrightTimeout:
            pass                # first_open then holds what was shown instead; the test says it
        self.open_s = time.perf_counter() - t0
        self.first_open = self.look()
        self.run_s = self.after_run = self.cells = None
        self.moves = {}

    def look(self):
        return self.page.evaluate("() => window.__mmbook.look(window.__mmbook.panel().node)")

    def run_all(self):
        """Run All (the command the Run menu calls); wait for it and for the kernel to be idle."""
        if self.run_s is None:
            t0 = time.perf_counter()
            self.page.evaluate("""() => window.jupyterapp.commands.execute('notebook:run-all-cells')""")
            self.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                        timeout=RUN_ALL_TIMEOUT_MS)
            self.run_s = time.perf_counter() - t0
            self.cells = self.page.evaluate("() => window.__mmbook.cells(window.__mmbook.panel())")
            self.after_run = self.look()
            self.idle = self.page.evaluate(
                "() => window.__mmbook.panel().sessionContext.session.kernel.status")
        return self

    def app(self, cell):
        """A locator of the app built in code cell `cell` (its top-level widget view)."""
        self.page.evaluate("""(i) => {
            document.querySelectorAll('[data-mmbook-app]').forEach(n => n.removeAttribute('data-mmbook-app'));
            const node = window.__mmbook.panel().content.widgets[i].node;
            node.querySelector('.jp-OutputArea-output > .jupyter-widgets').setAttribute('data-mmbook-app', '');
        }""", cell)
        return self.page.locator("[data-mmbook-app]")

    def move(self, cell, moves=3):
        """Move the app's first control `moves` times; each time, the ms from the input event
        to its new figures in the page (decoded, one frame later).

        The control is the app's first slider (ArrowRight on its handle), toggle
        buttons (the next button) or dropdown (the next option), in page order.
        Return (control description, [ms per move]); a move whose figures did
        not change raises TimeoutError.
        """
        self.run_all()
        app = self.app(cell)
        control = app.locator(".noUi-handle, .widget-toggle-buttons, .widget-dropdown select").first
        kind = control.evaluate("n => n.classList.contains('noUi-handle') ? 'slider' : "
                                "n.tagName === 'SELECT' ? 'dropdown' : 'toggle'")
        label = control.evaluate("n => (n.closest('.widget-inline-hbox, .widget-toggle-buttons, "
                                 ".widget-slider') || n).querySelector('.widget-label')?.textContent || ''")
        times = []
        for _ in range(moves):
            app.evaluate(WATCH)
            if kind == "slider":
                control.press("ArrowRight")
            elif kind == "dropdown":
                options = control.evaluate("s => [...s.options].map(o => o.value)")
                now = control.evaluate("s => s.value")
                control.select_option(options[(options.index(now) + 1) % len(options)])
            else:
                buttons = control.locator("button")
                active = control.evaluate(
                    "g => [...g.querySelectorAll('button')].findIndex(b => b.classList.contains('mod-active'))")
                buttons.nth((active + 1) % buttons.count()).click()
            handle = self.page.wait_for_function("() => window.__mmbook.watch.done",
                                                 timeout=REDRAW_TIMEOUT_MS)
            handle.dispose()
            times.append(self.page.evaluate("() => window.__mmbook.watch.ms"))
            self.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                        timeout=REDRAW_TIMEOUT_MS)
        self.moves[cell] = (f"{kind} {label}".strip(), times)
        return self.moves[cell]

    def close(self):
        """Shut the kernel down and close the notebook without saving."""
        self.page.evaluate("""async () => {
            const panel = window.__mmbook.panel();
            if (!panel) return;
            await panel.sessionContext.shutdown();
            panel.context.model.dirty = false;
            panel.dispose();
        }""")


# Run in the app's node before a move: time from the input event (captured
# on the document, before any handler) to the first moment the app shows
# as many figures as before and they differ, the new images decoded and one
# animation frame later (painted).
WATCH = r"""
(app) => {
  const before = window.__mmbook.figures(app);
  const w = window.__mmbook.watch = {done: false, ms: null, t0: null};
  const start = () => { if (w.t0 === null) w.t0 = performance.now(); };
  for (const type of ['pointerdown', 'keydown', 'change'])
    document.addEventListener(type, start, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    if (w.t0 === null) return;
    const now = window.__mmbook.figures(app);
    if (now.length !== before.length || now.every((s, i) => s === before[i])) return;
    observer.disconnect();
    const imgs = [...app.querySelectorAll('.jupyter-widgets .jp-OutputArea-output img')];
    Promise.all(imgs.map(i => i.decode().catch(() => null))).then(() =>
      requestAnimationFrame(() => { w.ms = performance.now() - w.t0; w.done = true; }));
  });
  observer.observe(app, {childList: true, subtree: true, attributes: true, attributeFilter: ['src']});
}
"""
