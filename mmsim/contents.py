"""Page contents, as stamps: what a page holds, without storing 4 KiB a page.

Every page (in the page cache, in an anonymous page, in a disk block) holds a
uint32 stamp. Stamp 0 is a page of zeros; every other stamp names one distinct
4 KiB content kept once here. Writing, copying on write, writeback and
reading back move stamps, so a test can write through a mapping, sync, drop
caches and read what survived, for 5,242,880 pages as cheaply as for one.
"""

import numpy as np

from ._abi import PAGE_SIZE
from .mm.pagevec import alike

ZERO = 0
# memtoy's "touch <seg> write" stores into the first word of every page it
# touches (memtoy.c touch_memory: the page's own address). Simplified: the
# simulator stores this one byte there, the same for every page, so that a
# touched range stays one stamp.
TOUCH_BYTE = 0x5A


class Contents:
    """The table of distinct page contents behind the stamps."""

    def __init__(self):
        self._pages = [bytes(PAGE_SIZE)]
        self._index = {self._pages[0]: ZERO}
        self._touched = {}          # stamp -> its stamp after a touch write

    def stamp(self, page):
        """Return the stamp of a 4 KiB bytes object, adding it if new."""
        s = self._index.get(page)
        if s is None:
            s = len(self._pages)
            self._pages.append(page)
            self._index[page] = s
        return s

    def page(self, stamp):
        """Return the 4 KiB bytes a stamp stands for."""
        return self._pages[int(stamp)]

    def join(self, stamps):
        """Return the bytes of the pages stamps stand for, one after another.

        Vectorised: one page repeated when all stamps are alike (the usual
        case), else a gather of the distinct pages' bytes.
        """
        if len(stamps) == 0:
            return b""
        first = alike(stamps)
        if first is not None:
            return self._pages[first] * len(stamps)
        uniq, inverse = np.unique(stamps, return_inverse=True)
        table = np.frombuffer(b"".join(self._pages[int(s)] for s in uniq), np.uint8)
        return table.reshape(len(uniq), PAGE_SIZE)[inverse].tobytes()

    def patch(self, stamp, offset, data):
        """Return the stamp of a page after data is written at offset."""
        buf = bytearray(self._pages[int(stamp)])
        buf[offset:offset + len(data)] = data
        return self.stamp(bytes(buf))

    def touched(self, stamps):
        """Return the stamps after memtoy's touch write stores into each page.

        Vectorised: every distinct old stamp is patched once, and remembered
        (a stamp's contents never change, so neither does its touched one).
        When every page holds the same stamp (the usual case) the one new
        stamp comes back as an int: assigning it stores the same as an
        array of it would.
        """
        first = alike(stamps)
        if first is not None:                       # the usual case: one kind of page
            return self._touch(first)
        uniq, inverse = np.unique(stamps, return_inverse=True)
        new = np.array([self._touch(int(s)) for s in uniq], dtype=stamps.dtype)
        return new[inverse]

    def touch_into(self, stamps):
        """Store memtoy's touch write into each page of stamps, in place (see touched)."""
        new = self.touched(stamps)
        if new.__class__ is int:                    # one stamp for all: a fill
            stamps.fill(new)
        else:
            stamps[...] = new

    def _touch(self, stamp):
        """The stamp of a page after touch write stores TOUCH_BYTE at its start."""
        t = self._touched.get(stamp)
        if t is None:
            t = self._touched[stamp] = self.patch(stamp, 0, bytes([TOUCH_BYTE]))
        return t

    def __len__(self):
        return len(self._pages)
