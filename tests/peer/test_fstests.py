"""fstests (xfstests) cases that write through mmap, ported: tests/generic/ and
tests/xfs/ of kdave/xfstests (read at 63a29724a85f), with their golden .out files.

xfs_io's commands map onto the Process API: pwrite -> p.pwrite, truncate ->
p.ftruncate, falloc [-k] -> p.fallocate, fpunch -> FALLOC_FL_PUNCH_HOLE,
mmap/mread/mwrite/msync/munmap -> p.mmap/p.read/p.write/p.msync/p.munmap;
_hexdump and md5sum read the file with read(2) (p.pread);
_scratch_cycle_mount is a sync and a drop of the page cache (cycle_mount).
The cases run on today's kernel ("6.18") unless the thread's kernels matter
(xfs/166, generic/614); small sizes.

Not expressible: generic/127 (fsx's random operation mix), generic/246
(writev from a mapped buffer), generic/446, 647, 729 (O_DIRECT against mapped
I/O), generic/499, 511 and 469's fsxops.3 (collapse and zero range), the
reflink/CoW families (140, 173, 651-672), the DAX, swap, quota and
shutdown ones; generic/029's and 567's real subject, blocks smaller than a
page, cannot arise (the simulated block is one page): their data checks
still run.
"""

import os
import signal

import pytest

import mmsim
from mmsim import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, MAP_FIXED, MAP_SHARED, MS_SYNC,
                   MiB, PROT_READ, PROT_WRITE)
from mmsim.testbed import regression

from peer_support import (PAGE, RELEASES, cycle_mount, machine, needs_ctime, needs_mtime,
                          needs_pread, needs_pwrite, new_file)

RW = PROT_READ | PROT_WRITE


def xfs_io_file(p, path):
    """xfs_io -t -f path: open O_RDWR | O_CREAT | O_TRUNC."""
    return p.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)


def x_filled_mapping(fs, size):
    """The set-up of generic/029 and 030: a 6.18 machine, /mnt/testfile of size
    bytes of 'X' (xfs_io -t -f -c "truncate" -c "pwrite -S 0x58"), mapped shared.
    Return (m, p, path, fd, addr)."""
    m = machine("6.18", fs=fs)
    p = m.spawn()
    path = "/mnt/testfile"
    fd = xfs_io_file(p, path)
    p.ftruncate(fd, size)
    p.pwrite(fd, b"\x58" * size, 0)
    return m, p, path, fd, p.mmap(0, size, RW, MAP_SHARED, fd, 0)


def mwrite(p, addr, off, length, pattern):
    """xfs_io mwrite -S pattern off length, through the mapping at addr."""
    p.write(addr + off, bytes([pattern]) * length)


def hexdump(p, fd, m, path):
    """_hexdump: the whole file, read with read(2)."""
    return p.pread(fd, m.stat(path).st_size, 0)


def runs(*spans):
    """The file contents a golden hexdump shows: (end offset, byte) runs from 0."""
    out, at = bytearray(), 0
    for end, byte in spans:
        out += bytes([byte]) * (end - at)
        at = end
    return bytes(out)


# -- generic/029: mapped writes against truncate down/up --------------------------------------

GENERIC_029 = {
    # the steps after "truncate size; pwrite -S 0x58 0 size; mmap -rw 0 size", and the dump
    "case1": (5120, [("mwrite", 2048, 3072, 0x5a), ("truncate", 2048), ("truncate", 5120),
                     ("mwrite", 2048, 3072, 0x59)],
              runs((0x800, 0x58), (0x1400, 0x59))),
    "case2": (5120, [("mwrite", 2048, 3072, 0x5a), ("truncate", 2048),
                     ("mwrite", 1024, 1024, 0x57), ("truncate", 5120),
                     ("mwrite", 2048, 3072, 0x59)],
              runs((0x400, 0x58), (0x800, 0x57), (0x1400, 0x59))),
    "case3": (5121, [("mwrite", 2047, 3071, 0x5a), ("truncate", 2047),
                     ("mwrite", 513, 1025, 0x57), ("truncate", 5121),
                     ("mwrite", 2047, 3071, 0x59)],
              runs((0x201, 0x58), (0x602, 0x57), (0x7ff, 0x58), (0x13fe, 0x59), (0x1401, 0))),
}


@needs_pwrite
@needs_pread
@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs", "btrfs"])
@pytest.mark.parametrize("case", sorted(GENERIC_029))
def test_generic_029(fs, case):
    """generic/029 (and 029.out): mapped writes against truncate down/up; the
    file's contents before and after a remount are the golden ones."""
    size, steps, want = GENERIC_029[case]
    m, p, path, fd, addr = x_filled_mapping(fs, size)
    for step in steps:
        if step[0] == "mwrite":
            mwrite(p, addr, *step[1:])
        else:
            p.ftruncate(fd, step[1])
    p.munmap(addr, size)
    assert hexdump(p, fd, m, path) == want          # Pre-Remount
    cycle_mount(m)
    assert hexdump(p, fd, m, path) == want          # Post-Remount


# -- generic/030: mapped writes against remap + truncate down/up -------------------------------

def mremap(p, addr, old, new, fd):
    """xfs_io mremap [-m] new, for a MAP_SHARED file mapping at offset 0.

    mremap is not in the Process API: growing in place is a MAP_FIXED map of
    the extension right after the mapping (the vmas merge), shrinking an
    munmap of the tail; within the same pages nothing changes, as with mremap.
    """
    old_end, new_end = -(-old // PAGE) * PAGE, -(-new // PAGE) * PAGE
    if new_end > old_end:
        p.mmap(addr + old_end, new_end - old_end, RW, MAP_SHARED | MAP_FIXED, fd, old_end)
    elif new_end < old_end:
        p.munmap(addr + new_end, old_end - new_end)
    return new


K = 1024
GENERIC_030 = {
    "case1": (5017 * K, [("truncate", 5020 * K), ("mremap", 5020 * K),
                         ("mwrite", 5017 * K, 3 * K, 0x57), ("mremap", 5017 * K),
                         ("truncate", 5017 * K), ("truncate", 5020 * K), ("mremap", 5020 * K),
                         ("mwrite", 5017 * K, 3 * K, 0x59)],
              runs((0x4e6400, 0x58), (0x4e7000, 0x59))),
    "case2": (5017 * K, [("truncate", 5020 * K), ("mremap", 5020 * K),
                         ("mwrite", 5017 * K, 3 * K, 0x57), ("mremap", 5017 * K),
                         ("truncate", 5017 * K), ("mwrite", 5016 * K, K, 0x5a),
                         ("truncate", 5020 * K), ("mremap", 5020 * K),
                         ("mwrite", 5017 * K, 3 * K, 0x59)],
              runs((0x4e6000, 0x58), (0x4e6400, 0x5a), (0x4e7000, 0x59))),
    "case3": (5136912, [("mremap", 5136912), ("truncate", 5136912), ("truncate", 5139720),
                        ("mremap", 5139720)]
              + [("mwrite", 5136912, 2808, 0)] * 3
              + [("mremap", 5136912), ("truncate", 5136912), ("truncate", 5139720),
                 ("mremap", 5139720), ("mwrite", 5136912, 2808, 0),
                 ("mwrite", 5136912, 2808, 0), ("mwrite", 5136912, 2808, 0x59),
                 ("truncate", 5140480), ("mremap", 5140480), ("msync",),
                 ("mremap", 5139720)],
              runs((0x4e6210, 0x58), (0x4e6d08, 0x59), (0x4e7000, 0))),
}


@needs_pwrite
@needs_pread
@pytest.mark.parametrize("fs", ["ext4", "xfs"])
@pytest.mark.parametrize("case", sorted(GENERIC_030))
def test_generic_030(fs, case):
    """generic/030 (and 030.out): mapped writes against mremap + truncate
    down/up of a 5 MiB file; golden contents before and after a remount."""
    size, steps, want = GENERIC_030[case]
    m, p, path, fd, addr = x_filled_mapping(fs, size)
    maplen = size
    for step in steps:
        if step[0] == "mwrite":
            mwrite(p, addr, *step[1:])
        elif step[0] == "mremap":
            maplen = mremap(p, addr, maplen, step[1], fd)
        elif step[0] == "msync":
            p.msync(addr, maplen, MS_SYNC)
        else:
            p.ftruncate(fd, step[1])
    p.munmap(addr, maplen)
    assert hexdump(p, fd, m, path) == want
    cycle_mount(m)
    assert hexdump(p, fd, m, path) == want


# -- generic/080, generic/215: c/mtime after mapped writes -------------------------------------

def _mapped_write_after_2s(fs, kernel, setup_len, map_len, mread):
    m = machine(kernel, fs=fs)
    p = m.spawn()
    path = "/mnt/mmap_mtime_testfile"
    fd = new_file(p, path)
    p.pwrite(fd, bytes(setup_len), 0)
    p.fsync(fd)
    before = m.stat(path)
    m.sleep(2)
    addr = p.mmap(0, map_len, RW, MAP_SHARED, fd, 0)
    if mread:
        p.read(addr, map_len)
    p.write(addr, b"X" * map_len)
    p.munmap(addr, map_len)
    return before, m.stat(path)


@needs_pwrite
@needs_mtime
@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs", "btrfs", "gfs2"])
def test_generic_080_mtime(kernel, fs):
    """generic/080: after pwrite 0 4k, fsync and 2 s, mmap + mread + mwrite of
    the 4 KiB changes stat -c %Y (mtime, whole seconds)."""
    before, after = _mapped_write_after_2s(fs, kernel, 4096, 4096, True)
    assert int(after.st_mtime) != int(before.st_mtime), "mtime not updated"


@needs_pwrite
@needs_ctime
@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs", "btrfs", "gfs2"])
def test_generic_080_ctime(kernel, fs):
    """generic/080: ... and stat -c %Z (ctime)."""
    before, after = _mapped_write_after_2s(fs, kernel, 4096, 4096, True)
    assert int(after.st_ctime) != int(before.st_ctime), "ctime not updated"


@needs_pwrite
@needs_mtime
@needs_ctime
@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs", "btrfs", "gfs2"])
def test_generic_215(fs):
    """generic/215 (bugzilla 2645): a 2 MiB file of zeros (dd count=4096), 2 s,
    then mmap 0 4096 + mwrite 0 4096: mtime and ctime both move."""
    before, after = _mapped_write_after_2s(fs, "6.18", 4096 * 512, 4096, False)
    assert int(after.st_mtime) - int(before.st_mtime) != 0, "mtime not update after mapped write"
    assert int(after.st_ctime) - int(before.st_ctime) != 0, "ctime not update after mapped write"


# -- generic/211: overwriting through mmap on a full filesystem --------------------------------

@needs_pwrite
@needs_pread
@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs"])
def test_generic_211(fs):
    """generic/211 (211.out): 1 MiB of 0xab in foobar, the rest of the
    filesystem filled (dd until ENOSPC); mwrite -S 0xcd over the whole 1 MiB
    succeeds, and after a remount the file holds 0xcd.

    btrfs is left out: the case needs in-place writes (_require_inplace_writes,
    chattr +C), which the simulated btrfs does not have.
    """
    m = machine("6.18", fs=fs, size=16 * MiB)
    p = m.spawn()
    fd = new_file(p, "/mnt/foobar")
    p.pwrite(fd, b"\xab" * MiB, 0)
    filler = new_file(p, "/mnt/filler")
    off = 0
    for chunk in (MiB, PAGE):                  # dd bs=blksz, in bigger steps first
        while True:
            try:
                n = p.pwrite(filler, bytes(chunk), off)
            except OSError as e:
                assert e.errno == 28             # ENOSPC
                break
            off += n
    addr = p.mmap(0, MiB, PROT_WRITE, MAP_SHARED, fd, 0)
    p.write(addr, b"\xcd" * MiB)
    p.munmap(addr, MiB)
    cycle_mount(m)
    assert p.pread(fd, MiB, 0) == b"\xcd" * MiB


# -- generic/469: no non-zero data past EOF after truncate down --------------------------------

FSXOPS = {
    "fsxops.0": [("fallocate", 0, 0x1000, True), ("write", 0, 0x1000), ("truncate", 0x10),
                 ("punch_hole", 0, 0x10), ("mapread", 0, 0x10)],
    "fsxops.1": [("fallocate", 0, 0x1000, True), ("write", 0, 0x1000), ("truncate", 0x10),
                 ("mapread", 0, 0x10)],
    "fsxops.2": [("fallocate", 0, 0x1000, False), ("write", 0, 0x1000), ("truncate", 0x10),
                 ("punch_hole", 0, 0x10), ("mapread", 0, 0x10)],
}


def fsx_replay(m, p, path, ops, fsync_after_write):
    """fsx --replay-ops [-y] over the operations 469 uses; fsx's own model of the
    file (good_buf) checks every mapread, and check_eofpage wants zeros past
    EOF in the mapped page."""
    fd = new_file(p, path)
    model = bytearray()
    for op in ops:
        if op[0] == "fallocate":
            _, off, length, keep = op
            p.fallocate(fd, FALLOC_FL_KEEP_SIZE if keep else 0, off, length)
            if not keep and off + length > len(model):
                model += bytes(off + length - len(model))
        elif op[0] == "write":
            _, off, length = op
            data = bytes((i % 251) + 1 for i in range(off, off + length))
            p.pwrite(fd, data, off)
            model[off:off + length] = data
            if fsync_after_write:
                p.fsync(fd)
        elif op[0] == "truncate":
            p.ftruncate(fd, op[1])
            model = model[:op[1]] + bytes(max(0, op[1] - len(model)))
        elif op[0] == "punch_hole":
            _, off, length = op
            p.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length)
            end = min(off + length, len(model))
            model[off:end] = bytes(end - off)
        else:
            _, off, size = op
            map_size = (off & (PAGE - 1)) + size
            a = p.mmap(0, map_size, PROT_READ, MAP_SHARED, fd, off & ~(PAGE - 1))
            assert p.read(a + (off & (PAGE - 1)), size) == bytes(model[off:off + size])
            eof_in_page = len(model) & (PAGE - 1)
            tail = p.read(a + eof_in_page, PAGE - eof_in_page)
            assert tail == bytes(PAGE - eof_in_page), "Mapped Read: non-zero data past EOF"
            p.munmap(a, map_size)


@needs_pwrite
@pytest.mark.parametrize("fs", ["ext4", "xfs"])
@pytest.mark.parametrize("fsync_after_write", [False, True], ids=["fsx", "fsx -y"])
@pytest.mark.parametrize("ops", sorted(FSXOPS))
def test_generic_469(fs, fsync_after_write, ops):
    """generic/469 (xfs: truncate pagecache before writeback in
    xfs_setattr_size): fsxops.0-2, with and without fsync after write: an mmap
    read of the EOF page after a truncate down sees zeros past EOF."""
    m = machine("6.18", fs=fs)
    fsx_replay(m, m.spawn(), "/mnt/469.fsx", FSXOPS[ops], fsync_after_write)


# -- generic/567: mapped writes against punch hole ---------------------------------------------

@needs_pwrite
@needs_pread
@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs"])
def test_generic_567(fs):
    """generic/567 (567.out): pwrite X 0..12288, mwrite Z 2048..10240, fpunch
    2048..10240 (straddling pages), mwrite Y 2048..10240: X, Y, X before and
    after a remount."""
    m = machine("6.18", fs=fs)
    p = m.spawn()
    path = "/mnt/testfile"
    fd = xfs_io_file(p, path)
    p.pwrite(fd, b"\x58" * 12288, 0)
    addr = p.mmap(0, 12288, RW, MAP_SHARED, fd, 0)
    mwrite(p, addr, 2048, 8192, 0x5a)
    p.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2048, 8192)
    mwrite(p, addr, 2048, 8192, 0x59)
    p.munmap(addr, 12288)
    want = runs((0x800, 0x58), (0x2800, 0x59), (0x3000, 0x58))
    assert hexdump(p, fd, m, path) == want
    cycle_mount(m)
    assert hexdump(p, fd, m, path) == want


# -- generic/614: st_blocks after a mapped write to an empty file ------------------------------

@pytest.mark.parametrize("kernel,fs", [(k, f) for k in RELEASES for f in ("ext4", "xfs")]
                         + [("6.18", "btrfs")])
def test_generic_614(kernel, fs):
    """generic/614 (_require_scratch_delalloc): truncate 64K, mmap -w, mwrite
    -S 0xab 0 64K, munmap: stat(2) reports a non-zero st_blocks at once (the
    delalloc reservation counts)."""
    m = machine(kernel, fs=fs)
    p = m.spawn()
    fd = new_file(p, "/mnt/foobar", 64 * K)
    addr = p.mmap(0, 64 * K, PROT_WRITE, MAP_SHARED, fd, 0)
    p.write(addr, b"\xab" * (64 * K))
    p.munmap(addr, 64 * K)
    assert m.stat("/mnt/foobar").st_blocks != 0, "error: stat(2) reported 0 used blocks"


# -- generic/749: zero-fill of the EOF page, SIGBUS past it ------------------------------------

GENERIC_749 = [  # file_len, offset, len, sparse (test_block_size's calls)
    (512, 3, 5, False), (11 * K, 0, 4096 * 3 + 3, False), (16 * K, 0, 16384 + 3, False),
    (16 * K, 16384 - 10, 16384 + 20, False), (64 * K, 0, 65536 + 3, False),
    (4 * K, 4090, 30, True),
]


def _sigbus(fn, *args):
    with pytest.raises(mmsim.Signal) as exc:
        fn(*args)
    return exc.value.signo == signal.SIGBUS


@needs_pwrite
@needs_pread
@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs"])
@pytest.mark.parametrize("file_len,offset,length,sparse", GENERIC_749)
def test_generic_749(fs, file_len, offset, length, sparse):
    """generic/749 do_mmap_tests: the part of the EOF page past EOF reads as
    zeros after a remount; writing it changes neither the file's contents nor
    its size; reading and writing the whole mapped page is fine, one page
    further gets SIGBUS, and the size stays."""
    m = machine("6.18", fs=fs)
    p = m.spawn()
    path = "/mnt/file"
    fd = new_file(p, path)
    if sparse:
        p.ftruncate(fd, file_len)
    else:
        p.fallocate(fd, 0, 0, file_len)
    p.pwrite(fd, b"\xaa" * length, offset)
    m.sync()
    new_filelen = m.stat(path).st_size
    map_len = -(-new_filelen // PAGE) * PAGE
    orig = p.pread(fd, new_filelen, 0)
    if map_len > new_filelen:
        zero_len = map_len - new_filelen
        cycle_mount(m)
        a = p.mmap(0, map_len, PROT_READ, MAP_SHARED, fd, 0)
        assert p.read(a + new_filelen, zero_len) == bytes(zero_len)
        p.munmap(a, map_len)
        cycle_mount(m)
        a = p.mmap(0, map_len, PROT_WRITE, MAP_SHARED, fd, 0)
        p.write(a + new_filelen, b"X" * zero_len)
        p.munmap(a, map_len)
        m.sync()
        assert p.pread(fd, new_filelen, 0) == orig
        assert m.stat(path).st_size == new_filelen
    cycle_mount(m)
    a = p.mmap(0, map_len, RW, MAP_SHARED, fd, 0)
    p.read(a, map_len)                               # up to the page boundary: no SIGBUS
    p.munmap(a, map_len)
    a = p.mmap(0, map_len + 10, RW, MAP_SHARED, fd, 0)
    assert _sigbus(p.read, a, map_len + 10), "Expected SIGBUS when mmap() reading beyond"
    assert _sigbus(p.write, a, b"X" * (map_len + 10)), "Expected SIGBUS when mmap() writing beyond"
    p.munmap(a, map_len + 10)
    assert m.stat(path).st_size == new_filelen


# -- generic/438: t_mmap_fallocate -------------------------------------------------------------

@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_generic_438(fs):
    """generic/438 ("ext4: Fix data corruption for mmap writes"),
    src/t_mmap_fallocate with a 4200-byte file (past one page boundary)
    instead of 256 KiB: extend the file byte by byte with posix_fallocate(fd,
    i, 1), store 0x78 through the mapping and read it back, with an fsync
    every 64 bytes standing in for the background fsync loop; at the end
    every byte still holds 0x78 (and does after a remount)."""
    fsize = 4200
    m = machine("6.18", fs=fs)
    p = m.spawn()
    fd = p.open("/mnt/testfile_fallocate", os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    buf = p.mmap(0, fsize, RW, MAP_SHARED, fd, 0)
    for i in range(fsize):
        p.fallocate(fd, 0, i, 1)
        p.write(buf + i, b"\x78")
        assert p.read(buf + i, 1) == b"\x78", f"Value not written correctly (off={i})"
        if i % 64 == 63:
            p.fsync(fd)
    assert p.read(buf, fsize) == b"\x78" * fsize, "Value has been modified"
    p.munmap(buf, fsize)
    cycle_mount(m)
    buf = p.mmap(0, fsize, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(buf, fsize) == b"\x78" * fsize


# -- xfs/166: ->page_mkwrite and unwritten extents ---------------------------------------------

# tests/xfs/166 and src/unwritten_mmap.c are ported in mmsim.testbed.regression (chapter 09
# runs them over every kernel and filesystem); here on the suites' /mnt.
XFS166_SIZE = regression.XFS166_FILE_SIZE   # the case's size before 5.18's large folios made it 12 MiB


def _xfs166(kernel, options="", mlock_first=False):
    m = machine(kernel, fs="xfs", options=options)
    p = m.spawn(memlock=(XFS166_SIZE, XFS166_SIZE))
    return regression.xfs166_experiment(m, p, where="/mnt", mlock_first=mlock_first)


def xfs166_golden(r):
    """_filter_blocks' output is 166.out's: five extents, RIGHT GOOD."""
    return regression.xfs166_check(r) == ("passed", "")


@pytest.mark.parametrize("kernel", RELEASES)
def test_xfs_166(kernel):
    """xfs/166 (166.out: 5 extents, RIGHT GOOD): ->page_mkwrite marks the stored
    pages' buffers unwritten, so writeback converts just those pages' extents."""
    assert xfs166_golden(_xfs166(kernel))


def test_xfs_166_fails_without_page_mkwrite():
    """xfs/166's check catches a filesystem that skips ->page_mkwrite (the
    simulator's no_page_mkwrite mount option, Dave Chinner's 2.6.15 case in
    the thread): the stored pages are written but their extents stay
    unwritten, so the filtered output is WRONG."""
    r = _xfs166("6.18", options="no_page_mkwrite")
    assert not xfs166_golden(r)
    assert all(unwritten for _, unwritten in r["extents"])


@pytest.mark.parametrize("kernel", ["2.6.38", "6.18"])
def test_xfs_166_after_mlock(kernel):
    """xfs/166 with the mapping mlocked before the stores (the thread's question:
    after the patch mlock read-faults a shared mapping, so the stores still
    reach ->page_mkwrite): the golden 5 extents."""
    assert xfs166_golden(_xfs166(kernel, mlock_first=True))


def test_xfs_166_after_mlock_2_6_37():
    """The same on 2.6.37: mlock write-faults every page (->page_mkwrite and
    set_page_dirty on all of them), writeback converts the whole file: one
    written extent, not xfs/166's five."""
    r = _xfs166("2.6.37", mlock_first=True)
    assert r["extents"] == [[XFS166_SIZE // 512, False]]
