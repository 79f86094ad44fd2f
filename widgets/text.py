"""Text output for the chapters: aligned tables and kernel paths, what nbval compares as text."""

from numbers import Number


def _is_number(v):
    return isinstance(v, Number) and not isinstance(v, bool)


def _cell(value, fmt):
    """One value as text: through fmt if it is a function, or a spec and the value a number."""
    if callable(fmt):
        return str(fmt(value))
    if fmt and _is_number(value):
        return format(value, fmt)
    return "" if value is None else str(value)


def table(rows, columns, formats=None, title=None):
    """Print rows as an aligned text table under a header of columns, and return the rows.

    rows: sequences in column order, or dicts keyed by column name.
    formats: a format spec per column (".3f", ",d", or a function of the
    value), as a dict by column name or a list in column order; a spec
    applies to numbers, and a column without one prints str(value). Columns whose values are all numbers are
    right-aligned, the others left-aligned; the last column is not padded.
    """
    columns = list(columns)
    if isinstance(formats, dict):
        unknown = set(formats) - set(columns)
        if unknown:
            raise ValueError(f"formats for columns the table does not have: {sorted(unknown)}")
        formats = [formats.get(c) for c in columns]
    formats = list(formats or []) + [None] * (len(columns) - len(formats or []))
    rows = list(rows)
    values = []
    for row in rows:
        vals = [row.get(c) for c in columns] if isinstance(row, dict) else list(row)
        if len(vals) != len(columns):
            raise ValueError(f"a row has {len(vals)} values for {len(columns)} columns: {row!r}")
        values.append(vals)
    cells = [[_cell(v, f) for v, f in zip(vals, formats)] for vals in values]
    numeric = [bool(values) and all(_is_number(vals[i]) for vals in values)
               for i in range(len(columns))]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(texts):
        out = [t.rjust(w) if num else (t if i == len(texts) - 1 else t.ljust(w))
               for i, (t, w, num) in enumerate(zip(texts, widths, numeric))]
        return "  ".join(out).rstrip()

    if title:
        print(title)
    print(line(columns))
    for r in cells:
        print(line(r))
    return rows


def paths_text(paths):
    """Kernel paths and their pages, as 'f > g xN; ...' (a Counter of paths, as
    mmsim.testbed.trace_paths returns); '(no fault)' when there are none."""
    return "; ".join(f"{' > '.join(path)} x{n}" for path, n in paths.items()) or "(no fault)"
