"""The book's notebooks are executed, clean, thin over mmsim, and up to date.

nbval (make test) re-runs every notebook in book/ and compares each output
with the stored one, but it silently checks nothing for a cell that was never
executed, and it cannot tell a reader-facing number that drifted from the
engine from a notebook that was simply not re-run. These tests cover that:

(a) every notebook parses and validates, every code cell was executed in a
    fresh kernel from top to bottom (execution counts 1..n) and has stored
    outputs where it prints or displays something;
(b) no stored output carries a memory address, a wall-clock timing, a
    traceback or stderr, and no cell metadata carries execution timestamps;
(c) no notebook holds engine logic: no classes, no numpy, no mmsim internals
    (page tables, page-cache arrays, private attributes, mmsim.mm/fs/block);
(d) the preface's live table is what mmsim computes now, and the prose next
    to it states only what the cell prints.

When an engine change moves a number in the book, re-execute the notebook
(the command is in every failure message) and re-read the prose around it.
"""

import ast
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
PREFACE = BOOK / "00_preface.ipynb"

REEXECUTE = ("re-execute it from a fresh kernel: .venv/bin/python -m jupyter nbconvert "
             "--to notebook --execute --inplace --ExecutePreprocessor.record_timing=False {nb}")


def notebooks():
    """Every notebook in book/, checkpoints excluded, in name order."""
    if not BOOK.is_dir():
        return []
    return sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def rel(path):
    return path.relative_to(ROOT).as_posix()


def how_to_fix(path):
    return REEXECUTE.format(nb=rel(path))


def read(path):
    return nbformat.read(str(path), as_version=nbformat.NO_CONVERT)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def output_text(output):
    """All the text an output carries: stream text, text/* data, error fields."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join([output.get("ename", ""), output.get("evalue", "")]
                         + list(output.get("traceback", [])))
    parts = []
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append(value if isinstance(value, str) else str(value))
    return "\n".join(parts)


def python_source(cell):
    """The cell as plain Python (IPython magics and shell escapes translated)."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(cell.source)


def ids(paths):
    return [rel(p) for p in paths]


NOTEBOOKS = notebooks()


def test_the_book_has_its_preface():
    assert PREFACE.is_file(), f"{rel(PREFACE)} is missing: the book starts there"


# -- (a) executed, top to bottom, outputs stored -----------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_parses_and_validates(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert code_cells(nb), f"{rel(path)} has no code cell: every chapter runs an experiment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_executed_top_to_bottom_in_a_fresh_kernel(path):
    cells = code_cells(read(path))
    empty = [i for i, c in enumerate(cells, 1) if not c.source.strip()]
    assert not empty, f"{rel(path)}: code cells {empty} are empty; delete them"
    counts = [c.execution_count for c in cells]
    expected = list(range(1, len(cells) + 1))
    assert counts == expected, (
        f"{rel(path)}: execution counts are {counts}, expected {expected} "
        f"(not run, or not run top to bottom in a fresh kernel); {how_to_fix(path)}")


def prints_something(cell):
    """True if the cell's source prints, displays or shows, or ends in a value.

    A final bare expression counts unless it is a call (p.mlock(...) returns
    None and shows nothing) or is silenced with a trailing semicolon.
    """
    src = python_source(cell)
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("print", "display", "show"):
                return True
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1].value
        silenced = src.rstrip().endswith(";")
        if not isinstance(last, ast.Call) and not silenced:
            return True
    return False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_outputs_are_stored(path):
    missing = [i for i, c in enumerate(code_cells(read(path)), 1)
               if prints_something(c) and not c.outputs]
    assert not missing, (
        f"{rel(path)}: code cells {missing} print or display something but have no "
        f"stored output, so nbval would compare nothing; {how_to_fix(path)}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_every_stored_widget_view_has_its_model_in_the_stored_state(path):
    """A view whose model is missing shows "model not found" on first open."""
    nb = read(path)
    state = (nb.metadata.get("widgets", {})
             .get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))
    views = [o.data["application/vnd.jupyter.widget-view+json"]["model_id"]
             for c in code_cells(nb) for o in c.outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    missing = [v for v in views if v not in state]
    assert not missing, (
        f"{rel(path)}: {len(missing)} of {len(views)} stored widget views have no model in "
        f"metadata.widgets (stale state, e.g. after a merge); {how_to_fix(path)}")


def test_no_text_points_at_a_chapter_that_does_not_exist():
    have = {p.name[:2] for p in NOTEBOOKS}
    dangling = sorted({(rel(p), n) for p in NOTEBOOKS for c in read(p).cells
                       if c.cell_type == "markdown"
                       for n in re.findall(r"(?i)\bchapters? (\d\d)\b", c.source) if n not in have})
    assert not dangling, f"markdown points at chapters that are not in book/: {dangling}"


# -- (b) clean outputs --------------------------------------------------------------

# What must never be stored: each pattern with what it means.
FORBIDDEN_OUTPUT = [
    (re.compile(r" at 0x[0-9a-fA-F]+"), "a memory address in an object repr: give the object "
     "a __repr__ without addresses, or print its fields"),
    (re.compile(r"Traceback \(most recent call last\)"), "a traceback: the cell failed"),
    (re.compile(r"Wall time|CPU times|\bper loop\b|\d+(\.\d+)?\s*(ns|µs|us|ms|s) ± "),
     "a wall-clock timing (%time/%timeit): print simulated time (m.now), never wall time"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"), "a wall-clock date and time"),
    (re.compile(r"/tmp/|/home/|/root/|site-packages"), "a path of this computer (a warning?)"),
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_unreproducible_or_failed_outputs(path):
    problems = []
    for i, cell in enumerate(code_cells(read(path)), 1):
        for out in cell.outputs:
            kind = out.get("output_type")
            if kind == "error":
                problems.append(f"cell {i}: an error output ({out.get('ename')}: "
                                f"{out.get('evalue')})")
            if kind == "stream" and out.get("name") == "stderr":
                problems.append(f"cell {i}: output on stderr (a warning?): "
                                f"{out.get('text', '')[:200]!r}")
            text = output_text(out)
            for pattern, what in FORBIDDEN_OUTPUT:
                hit = pattern.search(text)
                if hit:
                    problems.append(f"cell {i}: {what}: {hit.group(0)!r}")
    assert not problems, f"{rel(path)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_execution_timestamps_in_metadata(path):
    stamped = [i for i, c in enumerate(code_cells(read(path)), 1)
               if "execution" in c.metadata]
    assert not stamped, (
        f"{rel(path)}: code cells {stamped} carry wall-clock execution timestamps in "
        f"their metadata, so every re-run changes the file; {how_to_fix(path)}")


# -- (c) no engine logic in the book -------------------------------------------------

# mmsim internals a chapter must not reach into: page tables and page frames,
# page-cache and anonymous-page arrays, the machine's bookkeeping. A chapter
# calls the Process and Machine API (DESIGN.md section 2) and the widgets.
INTERNAL_ATTRIBUTES = {"pte", "pfn", "mapping", "anon", "mm", "vmstat", "contents",
                       "wb", "inodes", "flusher", "mlock_count"}
INTERNAL_MODULES = re.compile(r"^mmsim\.(mm|fs|block|_\w*)(\.|$)|^(numpy|scipy)(\.|$)")


def engine_logic(cell):
    """Return what in this cell looks like engine logic, as readable strings."""
    found = []
    tree = ast.parse(python_source(cell))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            found.append(f"class {node.name} (model behaviour in mmsim/, views in widgets/)")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if INTERNAL_MODULES.match(a.name)]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if INTERNAL_MODULES.match(mod):
                found.append(f"from {mod} import ...")
            elif mod == "mmsim":
                found += [f"from mmsim import {a.name}" for a in node.names
                          if a.name in ("mm", "fs", "block") or a.name.startswith("_")]
        elif isinstance(node, ast.Attribute):
            a = node.attr
            if a in INTERNAL_ATTRIBUTES:
                found.append(f".{a} (an mmsim internal)")
            elif a.startswith("_") and not (a.startswith("__") and a.endswith("__")):
                found.append(f".{a} (a private attribute)")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_engine_logic_in_the_book(path):
    problems = []
    for i, cell in enumerate(code_cells(read(path)), 1):
        problems += [f"cell {i}: {what}" for what in engine_logic(cell)]
    assert not problems, (
        f"{rel(path)} reaches into the engine; chapters import mmsim and call its "
        f"public API (add what is missing to mmsim or widgets):\n  " + "\n  ".join(problems))


def test_engine_logic_rule_catches_what_it_should():
    def cell(src):
        return nbformat.v4.new_code_cell(src)
    assert engine_logic(cell("import numpy as np"))
    assert engine_logic(cell("from mmsim.mm.memory import fault_range"))
    assert engine_logic(cell("class Page:\n    pass"))
    assert engine_logic(cell("x = vma.pte[0]"))
    assert engine_logic(cell("n = m.anon.n"))
    assert engine_logic(cell("m._shmem"))
    assert not engine_logic(cell("import mmsim\nm = mmsim.Machine()\nm.meminfo()['Dirty']"))
    assert not engine_logic(cell("def experiment(m, p):\n    return {'x': m.now}"))
    assert not engine_logic(cell("%matplotlib inline\nprint(x.__class__.__name__)"))


# -- (d) the preface's table is today's mmsim ----------------------------------------

PREFACE_KERNELS = ("2.6.37", "2.6.38", "6.18")
PREFACE_COLUMNS = ("mlock s", "Mlocked kB", "Dirty kB", "st_blocks", "ext4_page_mkwrite")
LIVE_CELL = "live-mlock-table"         # cell ids in book/00_preface.ipynb
READING_CELL = "central-fact-reading"


def preface_experiment(version):
    """The preface's live cell, recomputed: mlock of a touched sparse shared mapping.

    Keep in step with cell "live-mlock-table" of book/00_preface.ipynb.
    """
    import os

    import mmsim
    from mmsim import GiB, MiB, MAP_SHARED, PROT_READ, PROT_WRITE

    size, path = 64 * MiB, "/data/sparse64M"
    m = mmsim.Machine(kernel=version, ram=24 * GiB, profile="2010")
    m.mkfs("/data", fs="ext4", size=GiB)
    p = m.spawn(caps={"CAP_IPC_LOCK"})
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    p.touch(a, size)
    start = m.now
    p.mlock(a, size)
    took = m.now - start
    info = m.meminfo()
    mkwrite = m.trace.counts(m.trace.query(op="mlock"))["ext4_page_mkwrite"]
    return {"mlock s": f"{took:.4f}", "Mlocked kB": str(info["Mlocked"]),
            "Dirty kB": str(info["Dirty"]), "st_blocks": str(m.stat(path).st_blocks),
            "ext4_page_mkwrite": str(mkwrite)}


def cell_by_id(nb, cell_id):
    for c in nb.cells:
        if c.get("id") == cell_id:
            return c
    raise AssertionError(f"{rel(PREFACE)} has no cell with id {cell_id!r}; the tests "
                         f"in {Path(__file__).name} find the live table by that id")


def stored_table():
    """The table the preface's live cell printed, as {kernel: {column: text}}."""
    cell = cell_by_id(read(PREFACE), LIVE_CELL)
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    rows = {}
    table = text.split("\n\n")[0]            # the table ends at the first blank line
    for line in table.splitlines():
        words = line.split()
        if words and words[0] in PREFACE_KERNELS:
            # kernel, seconds, "s", Mlocked, Dirty, st_blocks, page_mkwrite calls
            assert len(words) == 7 and words[2] == "s", f"unexpected table row {line!r}"
            rows[words[0]] = dict(zip(PREFACE_COLUMNS, [words[1]] + words[3:]))
    assert list(rows) == list(PREFACE_KERNELS), (
        f"{rel(PREFACE)}: the stored output of cell {LIVE_CELL!r} has rows for "
        f"{list(rows)}, expected {list(PREFACE_KERNELS)}; {how_to_fix(PREFACE)}")
    return rows, text


@pytest.fixture(scope="module")
def recomputed():
    return {v: preface_experiment(v) for v in PREFACE_KERNELS}


def test_preface_table_is_what_mmsim_computes_now(recomputed):
    stored, _ = stored_table()
    diffs = [f"{v} {col}: stored {stored[v][col]}, mmsim now gives {recomputed[v][col]}"
             for v in PREFACE_KERNELS for col in PREFACE_COLUMNS
             if stored[v][col] != recomputed[v][col]]
    assert not diffs, (
        f"The engine no longer computes the numbers printed in {rel(PREFACE)}:\n  "
        + "\n  ".join(diffs)
        + f"\nIf the engine change is intended, {how_to_fix(PREFACE)} and then re-read "
        f"the prose in cell {READING_CELL!r}, which quotes these numbers.")


def test_preface_table_shows_the_threads_central_fact(recomputed):
    """The facts the preface's prose states about the table, from the engine."""
    pages = 64 * 1024 * 1024 // 4096
    r = recomputed
    why = (f"the prose of {rel(PREFACE)} (cell {READING_CELL!r}) says otherwise: "
           f"rewrite it if this change in the engine is right")
    for v in PREFACE_KERNELS:
        assert r[v]["Mlocked kB"] == str(64 * 1024), f"{v}: not all 64 MiB mlocked; {why}"
    assert r["2.6.37"]["Dirty kB"] == str(64 * 1024), f"2.6.37 mlock must dirty every page; {why}"
    assert r["2.6.37"]["st_blocks"] == str(64 * 1024 * 1024 // 512), \
        f"2.6.37 mlock must account every block of the file; {why}"
    assert r["2.6.37"]["ext4_page_mkwrite"] == str(pages), \
        f"2.6.37 mlock must call ext4_page_mkwrite once per page; {why}"
    for v in ("2.6.38", "6.18"):
        assert (r[v]["Dirty kB"], r[v]["st_blocks"], r[v]["ext4_page_mkwrite"]) == ("0", "0", "0"), \
            f"{v} mlock must leave the file clean and without blocks; {why}"
    assert float(r["2.6.37"]["mlock s"]) > float(r["2.6.38"]["mlock s"]), \
        f"2.6.37 mlock must take longer than 2.6.38's; {why}"


def test_preface_prose_quotes_only_printed_numbers():
    """Every multi-digit number and kernel function the reading cell names is printed."""
    nb = read(PREFACE)
    prose = cell_by_id(nb, READING_CELL).source
    _, printed = stored_table()
    numbers = set(re.findall(r"(?<![\w.])\d[\d.]{3,}\d(?![\w.])", prose))
    functions = {f for f in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", prose) if "_" in f}
    missing = sorted(x for x in numbers | functions if x not in printed)
    assert not missing, (
        f"{rel(PREFACE)}: cell {READING_CELL!r} quotes {missing}, which the live cell "
        f"does not print; the prose must state only what the cell prints (if the engine "
        f"changed the numbers, {how_to_fix(PREFACE)} and update the prose to match)")
    assert numbers, f"cell {READING_CELL!r} quotes no numbers from the table"


def test_preface_cells_and_counts():
    """The preface is one live experiment and prose: cell ids the tests rely on exist."""
    nb = read(PREFACE)
    kinds = Counter(c.cell_type for c in nb.cells)
    assert kinds["code"] >= 1 and kinds["markdown"] >= 5
    cell_by_id(nb, LIVE_CELL)
    cell_by_id(nb, READING_CELL)


# -- (e) chapters show experiments; helpers live in the library --------------------

def test_no_function_is_defined_in_two_chapters():
    where = {}
    for path in NOTEBOOKS:
        for cell in code_cells(read(path)):
            for name in re.findall(r"(?m)^def (\w+)", cell.source):
                where.setdefault(name, set()).add(path.name[:2])
    twice = {name: sorted(chs) for name, chs in where.items() if len(chs) > 1}
    assert not twice, (f"functions defined in more than one chapter: {twice}; move them to "
                       f"mmsim (simulation) or widgets (display) and import them")


def test_chapters_read_page_flags_through_the_process_api():
    users = [rel(p) for p in NOTEBOOKS
             if any("kpageflags" in c.source for c in code_cells(read(p)))]
    assert not users, f"{users} use kpageflags; a chapter calls p.pageflags(addr, length)"


def test_every_exercise_of_a_chapter_is_shown_from_the_catalogue():
    from widgets.exercises import catalog
    book = catalog()
    for path in NOTEBOOKS:
        source = "\n".join(c.source for c in code_cells(read(path)))
        keys = [k for k, ex in book.items() if ex.chapter == path.name[:2]]
        missing = [k for k in keys if f'book["{k}"].widget(' not in source
                   or f'book["{k}"].variant(' not in source]
        assert not missing, (f"{rel(path)} does not show exercises {missing} of the catalogue "
                             f"(a printed variant and a widget each)")
        assert "widgets.Exercise(" not in source, f"{rel(path)} defines an exercise of its own"
