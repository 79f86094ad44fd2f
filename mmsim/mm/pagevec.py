"""A batch of pages (include/linux/pagevec.h, in spirit): page offsets as a
slice when they are one contiguous run, else a sorted index array.

Range operations mostly cover whole runs of pages; a slice keeps them on
numpy views instead of index arrays of millions of entries. Every helper
takes either form.
"""

import numpy as np

NONE = np.empty(0, np.int64)     # an empty selection


def where(mask, base=0):
    """Positions of mask's true entries, plus base: a slice when all are true."""
    if mask.all():
        return slice(base, base + len(mask))
    return base + np.flatnonzero(mask)


def count(sel):
    """How many pages a selection holds."""
    return sel.stop - sel.start if isinstance(sel, slice) else len(sel)


def shift(sel, k):
    """The selection moved by k pages."""
    return slice(sel.start + k, sel.stop + k) if isinstance(sel, slice) else sel + k


def subset(sel, mask):
    """The entries of sel where mask (over sel) is true; sel itself if all are."""
    if mask.all():
        return sel
    return as_index(sel)[mask]


def head(sel, k):
    """The first k entries of sel."""
    if isinstance(sel, slice):
        return slice(sel.start, min(sel.stop, sel.start + k))
    return sel[:k]


def nth(sel, k):
    """The k-th entry of sel, as an int."""
    return sel.start + k if isinstance(sel, slice) else int(sel[k])


def first_last(sel):
    """(first entry, one past the last) of a non-empty sorted selection."""
    if isinstance(sel, slice):
        return sel.start, sel.stop
    return int(sel[0]), int(sel[-1]) + 1


def alike(a):
    """The one value every entry of a contiguous array holds, or None if they differ.

    Compares the raw bytes (a few hundred nanoseconds for a 4 MiB batch
    of page flags, where a numpy comparison and reduction take microseconds),
    so that range operations on pages all in one state can take a single
    path. An empty array gives None.
    """
    b = a.tobytes()
    k = a.itemsize
    if not b or b[:k] * len(a) != b:
        return None
    return b[0] if a.dtype is _UINT8 else a.item(0)     # page and PTE flags: the most frequent


_UINT8 = np.dtype(np.uint8)


def set_bits(arr, sel, bits):
    """arr[sel] |= bits for a uint8 flags array; a slice of alike entries takes one fill."""
    change_bits(arr, sel, 0, bits)


def clear_bits(arr, sel, bits):
    """arr[sel] &= ~bits for a uint8 flags array; a slice of alike entries takes one fill."""
    change_bits(arr, sel, bits, 0)


def change_bits(arr, sel, clear, bits):
    """arr[sel] = arr[sel] & ~clear | bits for a uint8 flags array, in one pass.

    The same as clear_bits(arr, sel, clear) then set_bits(arr, sel, bits),
    with one look at the entries instead of two: a slice of alike entries
    takes one fill.
    """
    if isinstance(sel, slice):
        if sel.stop <= sel.start:
            return
        view = arr[sel]
        v = alike(view)
        if v is not None:
            if v & ~clear | bits != v:
                view.fill(v & ~clear | bits)
            return
        arr = view
        sel = slice(None)
    if clear:
        arr[sel] &= ~np.uint8(clear)
    if bits:
        arr[sel] |= bits


def as_index(sel):
    """The selection as an index array."""
    return np.arange(sel.start, sel.stop) if isinstance(sel, slice) else sel


def as_run(idx):
    """A sorted index array as a slice if it is one contiguous run, else itself."""
    n = len(idx)
    if n and int(idx[-1]) - int(idx[0]) + 1 == n:
        return slice(int(idx[0]), int(idx[0]) + n)
    return idx
