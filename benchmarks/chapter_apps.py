"""The apps of the book's chapters, built from the notebooks' own cells, for bench_widgets.

For each chapter with an app, the chapter's first code cell (its imports)
and the cell that builds the app ("app = widgets.App(...)") are executed as
they stand in book/NN_*.ipynb, so the benchmark measures exactly what a
reader runs. Each builder returns (app, control): the App at its default
values and the name of the control the benchmark moves.
"""

import json
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

BOOK = Path(__file__).resolve().parent.parent / "book"
# chapter prefix -> the control each app's benchmark moves
MOVED = {"01": "kernel", "02": "kernel", "03": "kernel", "04": "profile", "05": "kernel",
         "06": "kernel", "07": "kernel", "08": "kernel", "09": "switch", "10": "kernel"}


def _cells(prefix):
    (path,) = BOOK.glob(f"{prefix}_*.ipynb")
    return [("".join(c["source"]), path.stem) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"]


def build(prefix):
    """Run chapter prefix's import cell and app cell; return (app, control to move)."""
    cells = _cells(prefix)
    app_cells = [s for s, _ in cells if "widgets.App(" in s]
    if len(app_cells) != 1:
        raise LookupError(f"chapter {prefix}: {len(app_cells)} app cells, expected 1")
    source = "\n".join(line for line in (cells[0][0] + "\n" + app_cells[0]).splitlines()
                       if not line.startswith("%"))      # no IPython magics outside a kernel
    namespace = {}
    exec(compile(TransformerManager().transform_cell(source), cells[0][1], "exec"), namespace)
    return namespace["app"], MOVED[prefix]


APPS = {f"{prefix} app": (lambda prefix=prefix: build(prefix)) for prefix in MOVED}
