"""mmap, munmap and mprotect (mm/mmap.c do_mmap_pgoff/mmap_region/do_munmap,
mm/mprotect.c sys_mprotect): the errnos, VMA splitting and merging,
MAP_FIXED, MAP_FIXED_NOREPLACE and MAP_POPULATE, on every kernel version.

References: kernel-lookups.md section 4 (2.6.3x do_mmap_pgoff check order,
do_munmap, sys_mprotect), section 3.8 (today's do_mmap), section 0
(make_pages_present before and after the patch).
"""

import errno
import os

import signal

import pytest

import mmsim
from mmsim import (MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_LOCKED, MAP_POPULATE,
                   MAP_PRIVATE, MAP_SHARED,
                   MAP_SHARED_VALIDATE, MCL_CURRENT, PAGE_SIZE, PROT_NONE,
                   PROT_READ, PROT_WRITE)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
KB = PAGE // 1024
U64 = (1 << 64) - 1


def errno_of(fn, *args):
    """Call fn and return the errno of the OSError it raises (fail if none)."""
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


# -- mmap errnos -------------------------------------------------------------------

def test_mmap_len_zero_einval(p):
    assert errno_of(p.mmap, 0, 0, RW, ANON) == errno.EINVAL


@pytest.mark.parametrize("length", [U64, U64 - PAGE + 2, -1])
def test_mmap_page_align_overflow_enomem(p, length):
    # do_mmap_pgoff: len = PAGE_ALIGN(len); if (!len) return -ENOMEM
    assert errno_of(p.mmap, 0, length, RW, ANON) == errno.ENOMEM


def test_mmap_unaligned_offset_einval(p, sparse_map):
    fd, _ = sparse_map(p, "/data/f", 4 * PAGE)
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_SHARED, fd, 100) == errno.EINVAL
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE + 1) == errno.EINVAL


def test_mmap_unaligned_map_fixed_einval(p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.mmap, a + 123, PAGE, RW, ANON | MAP_FIXED) == errno.EINVAL
    # the failed call left the old mapping alone
    assert [(v["start"], v["end"]) for v in p.smaps()] == [(a, a + 4 * PAGE)]


def test_mmap_bad_fd_ebadf(p):
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_SHARED, 99, 0) == errno.EBADF
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, -1, 0) == errno.EBADF


def test_mmap_closed_fd_ebadf(p, sparse_map):
    fd, _ = sparse_map(p, "/data/f", PAGE)
    p.close(fd)
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_SHARED, fd, 0) == errno.EBADF


def test_mmap_shared_write_on_rdonly_fd_eacces(p, sparse_map):
    sparse_map(p, "/data/f", 4 * PAGE)
    fd = p.open("/data/f", os.O_RDONLY)
    assert errno_of(p.mmap, 0, PAGE, RW, MAP_SHARED, fd, 0) == errno.EACCES
    # read-only shared and private writable mappings of it are fine
    p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    p.mmap(0, PAGE, RW, MAP_PRIVATE, fd, 0)


@pytest.mark.parametrize("flags,prot", [(MAP_SHARED, PROT_READ), (MAP_PRIVATE, PROT_READ),
                                        (MAP_SHARED, RW), (MAP_PRIVATE, RW)])
def test_mmap_wronly_fd_eacces(p, sparse_map, flags, prot):
    sparse_map(p, "/data/f", 4 * PAGE)
    fd = p.open("/data/f", os.O_WRONLY)
    assert errno_of(p.mmap, 0, PAGE, prot, flags, fd, 0) == errno.EACCES


@pytest.mark.parametrize("maptype", [0, 0x4, 0xF])
def test_mmap_neither_shared_nor_private_einval(p, sparse_map, maptype):
    fd, _ = sparse_map(p, "/data/f", 4 * PAGE)
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, maptype, fd, 0) == errno.EINVAL
    assert errno_of(p.mmap, 0, PAGE, RW, maptype | MAP_ANONYMOUS) == errno.EINVAL


def test_map_shared_validate_unknown_flag(p, sparse_map, kernel):
    """MAP_SHARED_VALIDATE (4.15) rejects unknown flags with EOPNOTSUPP; before
    it, 0x03 is just an invalid map type: EINVAL."""
    fd, _ = sparse_map(p, "/data/f", 4 * PAGE)
    unknown = 0x200000
    err = errno_of(p.mmap, 0, PAGE, RW, MAP_SHARED_VALIDATE | unknown, fd, 0)
    assert err == (errno.EOPNOTSUPP if kernel == "6.18" else errno.EINVAL)
    # plain MAP_SHARED ignores the unknown bit on every version
    a = p.mmap(0, PAGE, RW, MAP_SHARED | unknown, fd, 0)
    assert p.smaps(a)["Size"] == 4


def test_map_shared_validate_known_flags(p, sparse_map, kernel):
    fd, _ = sparse_map(p, "/data/f", 4 * PAGE)
    if kernel == "6.18":
        a = p.mmap(0, PAGE, RW, MAP_SHARED_VALIDATE | MAP_POPULATE, fd, 0)
        assert p.smaps(a)["Rss"] == 4
    else:
        assert errno_of(p.mmap, 0, PAGE, RW, MAP_SHARED_VALIDATE, fd, 0) == errno.EINVAL


def test_map_shared_validate_accepts_map_32bit(sparse_map):
    m = mmsim.Machine(kernel="6.18")
    m.mkfs("/data", fs="ext4", size=mmsim.MiB * 16)
    p = m.spawn()
    fd, _ = sparse_map(p, "/data/f", 4 * PAGE)
    # include/linux/mman.h LEGACY_MAP_MASK includes MAP_32BIT (0x40 on x86-64)
    MAP_32BIT = 0x40
    a = p.mmap(0, PAGE, RW, MAP_SHARED_VALIDATE | MAP_32BIT, fd, 0)
    assert p.smaps(a)["Size"] == 4


def test_mmap_errno_order(m, sparse_map):
    """x86-64 sys_mmap checks the offset first, then sys_mmap_pgoff looks up the
    fd (EBADF), then do_mmap_pgoff: len, MAP_LOCKED's EPERM and EAGAIN, and
    only then the file's mode (EACCES)."""
    p = m.spawn(memlock=(0, 0))
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_SHARED, 99, 1) == errno.EINVAL
    assert errno_of(p.mmap, 0, 0, PROT_READ, MAP_SHARED, 99, 0) == errno.EBADF
    assert errno_of(p.mmap, 0, -1, PROT_READ, MAP_SHARED, 99, 0) == errno.EBADF
    fd, _ = sparse_map(p, "/data/f", 4 * PAGE)
    ro = p.open("/data/f", os.O_RDONLY)
    locked = MAP_SHARED | mmsim.MAP_LOCKED
    assert errno_of(p.mmap, 0, PAGE, RW, locked, ro, 0) == errno.EPERM
    q = m.spawn(memlock=(PAGE, PAGE))
    qro = q.open("/data/f", os.O_RDONLY)
    assert errno_of(q.mmap, 0, 2 * PAGE, RW, locked, qro, 0) == errno.EAGAIN
    assert errno_of(q.mmap, 0, PAGE, RW, locked, qro, 0) == errno.EACCES
    # MAP_ANONYMOUS ignores the fd
    q.mmap(0, PAGE, RW, ANON, 99, 0)


# -- munmap ---------------------------------------------------------------------------

def test_munmap_unaligned_einval(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    assert errno_of(p.munmap, a + 1, PAGE) == errno.EINVAL
    assert len(p.smaps()) == 1


def test_munmap_len_zero_einval(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    assert errno_of(p.munmap, a, 0) == errno.EINVAL
    assert p.status()["VmSize"] == 2 * KB


def test_munmap_unmapped_range_ok(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.munmap(a, 2 * PAGE)
    p.munmap(a, 2 * PAGE)                 # nothing there any more: still 0
    p.munmap(0x10000000, 16 * PAGE)       # never mapped
    assert p.smaps() == []
    assert p.status()["VmSize"] == 0


def test_munmap_middle_splits(p):
    a = p.mmap(0, 3 * PAGE, RW, ANON)
    p.munmap(a + PAGE, PAGE)
    assert [(v["start"], v["end"]) for v in p.smaps()] == [(a, a + PAGE),
                                                         (a + 2 * PAGE, a + 3 * PAGE)]
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a + PAGE, PAGE)
    assert exc.value.signo == signal.SIGSEGV and exc.value.addr == a + PAGE


# -- mprotect errnos -------------------------------------------------------------------

def test_mprotect_unaligned_einval(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    assert errno_of(p.mprotect, a + 8, PAGE, PROT_READ) == errno.EINVAL


def test_mprotect_unknown_prot_einval(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    assert errno_of(p.mprotect, a, PAGE, 0x40) == errno.EINVAL
    assert "wr" in p.smaps(a).get("VmFlags", "wr")
    assert len(p.smaps()) == 1


def test_mprotect_hole_enomem(p):
    a = p.mmap(0, 3 * PAGE, RW, ANON)
    p.munmap(a + PAGE, PAGE)
    assert errno_of(p.mprotect, a, 3 * PAGE, PROT_READ) == errno.ENOMEM
    # unmapped start: ENOMEM too
    assert errno_of(p.mprotect, a + PAGE, PAGE, PROT_READ) == errno.ENOMEM


def test_mprotect_write_on_shared_rdonly_fd_eacces(p, sparse_map):
    sparse_map(p, "/data/f", 2 * PAGE)
    fd = p.open("/data/f", os.O_RDONLY)
    a = p.mmap(0, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert errno_of(p.mprotect, a, 2 * PAGE, RW) == errno.EACCES
    # the mapping is still read-only: a store gets SIGSEGV
    with pytest.raises(mmsim.Signal) as exc:
        p.write(a, b"x")
    assert exc.value.signo == signal.SIGSEGV
    # a private mapping of the same fd may become writable
    b = p.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    p.mprotect(b, 2 * PAGE, RW)
    p.write(b, b"x")


# -- VMA splitting and merging ----------------------------------------------------------

def spans(p):
    return [(v["start"], v["end"]) for v in p.smaps()]


def test_munlock_middle_splits_and_relock_merges(p):
    a = p.mmap(0, 3 * PAGE, RW, ANON)
    p.mlock(a, 3 * PAGE)
    assert spans(p) == [(a, a + 3 * PAGE)]
    p.munlock(a + PAGE, PAGE)
    assert spans(p) == [(a, a + PAGE), (a + PAGE, a + 2 * PAGE), (a + 2 * PAGE, a + 3 * PAGE)]
    assert p.status()["VmLck"] == 2 * KB
    p.mlock(a + PAGE, PAGE)
    assert spans(p) == [(a, a + 3 * PAGE)]
    assert p.status()["VmLck"] == 3 * KB


def test_mprotect_middle_splits_and_undo_merges(p):
    a = p.mmap(0, 3 * PAGE, RW, ANON)
    p.touch(a, 3 * PAGE, write=True)
    p.mprotect(a + PAGE, PAGE, PROT_READ)
    assert spans(p) == [(a, a + PAGE), (a + PAGE, a + 2 * PAGE), (a + 2 * PAGE, a + 3 * PAGE)]
    p.mprotect(a + PAGE, PAGE, RW)
    assert spans(p) == [(a, a + 3 * PAGE)]
    assert p.smaps(a)["Rss"] == 3 * KB


def test_mprotect_split_of_file_mapping_keeps_offsets(p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 3 * PAGE)
    p.write(a + 2 * PAGE, b"third")
    p.mprotect(a + PAGE, PAGE, PROT_READ)
    assert len(spans(p)) == 3
    p.mprotect(a + PAGE, PAGE, RW)
    assert spans(p) == [(a, a + 3 * PAGE)]
    assert p.read(a + 2 * PAGE, 5) == b"third"


def test_adjacent_anonymous_mmaps_merge(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    b = p.mmap(a + 2 * PAGE, 2 * PAGE, RW, ANON | MAP_FIXED)
    assert b == a + 2 * PAGE
    assert spans(p) == [(a, a + 4 * PAGE)]


def test_adjacent_anonymous_mmaps_merge_without_fixed(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    b = p.mmap(0, 2 * PAGE, RW, ANON)
    assert abs(a - b) == 2 * PAGE          # top-down, next to each other
    assert len(p.smaps()) == 1
    assert p.smaps(min(a, b))["Size"] == 4 * KB


def test_adjacent_mmaps_with_different_flags_do_not_merge(p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.mmap(a + 2 * PAGE, 2 * PAGE, PROT_READ, ANON | MAP_FIXED)
    assert spans(p) == [(a, a + 2 * PAGE), (a + 2 * PAGE, a + 4 * PAGE)]


def test_adjacent_shared_anonymous_mmaps_do_not_merge(p):
    # each MAP_SHARED|MAP_ANONYMOUS mapping is its own shmem file
    a = p.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.mmap(a + 2 * PAGE, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)
    assert len(p.smaps()) == 2


# -- MAP_FIXED ------------------------------------------------------------------------------

def test_map_fixed_replaces(p):
    a = p.mmap(0, 3 * PAGE, RW, ANON)
    p.write(a, b"A" * (3 * PAGE))
    b = p.mmap(a + PAGE, PAGE, RW, ANON | MAP_FIXED)
    assert b == a + PAGE
    assert p.read(a, 1) == b"A"
    assert p.read(a + PAGE, 4) == bytes(4)        # the new mapping: zero-filled
    assert p.read(a + 2 * PAGE, 1) == b"A"
    assert p.status()["VmSize"] == 3 * KB
    assert sum(v["Anonymous"] for v in p.smaps()) == 2 * KB


def test_map_fixed_replaces_file_with_anon(p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 2 * PAGE)
    p.write(a, b"file")
    p.mmap(a, PAGE, RW, ANON | MAP_FIXED)
    assert p.read(a, 4) == bytes(4)
    # the file still holds the data
    b = p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(b, 4) == b"file"


def test_map_fixed_over_locked_region_drops_vmlck(p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    p.mmap(a, 2 * PAGE, RW, ANON | MAP_FIXED)
    assert p.status()["VmLck"] == 2 * KB


# -- MAP_FIXED_NOREPLACE (4.17) -----------------------------------------------------------------
# do_mmap: "if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED", then after
# get_unmapped_area "if (find_vma_intersection(mm, addr, addr + len)) return
# -EEXIST". Older kernels do not know bit 0x100000 and ignore it: the address
# is then a hint, taken when the range is free.

def test_noreplace_over_a_mapping(p, kernel):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.write(a + PAGE, b"keep")
    for at, length in ((a, PAGE), (a + 2 * PAGE, 4 * PAGE), (a - PAGE, 2 * PAGE)):
        if kernel == "6.18":
            assert errno_of(p.mmap, at, length, RW, ANON | MAP_FIXED_NOREPLACE) == errno.EEXIST
        else:
            b = p.mmap(at, length, RW, ANON | MAP_FIXED_NOREPLACE)
            assert b != at and not a <= b < a + 4 * PAGE      # placed elsewhere
            p.munmap(b, length)
    assert p.read(a + PAGE, 4) == b"keep"                    # nothing was replaced
    assert [(v["start"], v["end"]) for v in p.smaps()] == [(a, a + 4 * PAGE)]


def test_noreplace_on_a_free_range_maps_there(p, kernel):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.munmap(a + PAGE, 2 * PAGE)
    assert p.mmap(a + PAGE, 2 * PAGE, RW, ANON | MAP_FIXED_NOREPLACE) == a + PAGE
    assert p.mmap(0x40000000, PAGE, RW, ANON | MAP_FIXED_NOREPLACE) == 0x40000000


def test_noreplace_unaligned_address(p, kernel):
    # MAP_FIXED's checks on 4.17+; before it a hint, rounded up to a page
    a = 0x40000123
    if kernel == "6.18":
        assert errno_of(p.mmap, a, PAGE, RW, ANON | MAP_FIXED_NOREPLACE) == errno.EINVAL
    else:
        assert p.mmap(a, PAGE, RW, ANON | MAP_FIXED_NOREPLACE) == 0x40001000


def test_noreplace_eexist_comes_before_map_locked_checks(m, kernel):
    # 6.x do_mmap: EEXIST is checked before can_do_mlock()'s EPERM
    p = m.spawn(memlock=(0, 0))
    a = p.mmap(0, PAGE, RW, ANON)
    err = errno_of(p.mmap, a, PAGE, RW, ANON | MAP_LOCKED | MAP_FIXED_NOREPLACE)
    assert err == (errno.EEXIST if kernel == "6.18" else errno.EPERM)


def test_noreplace_with_map_shared_validate(p, sparse_map, kernel):
    # MAP_FIXED_NOREPLACE is not in LEGACY_MAP_MASK: MAP_SHARED_VALIDATE
    # refuses it with EOPNOTSUPP (after the EEXIST check); plain MAP_SHARED takes it
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    free = 0x40000000
    if kernel == "6.18":
        assert errno_of(p.mmap, free, PAGE, RW, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE,
                        fd, 0) == errno.EOPNOTSUPP
        assert errno_of(p.mmap, a, PAGE, RW, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE,
                        fd, 0) == errno.EEXIST
    assert p.mmap(free, PAGE, RW, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0) == free


# -- MAP_POPULATE -----------------------------------------------------------------------------

def test_map_populate_anonymous(p):
    a = p.mmap(0, 8 * PAGE, RW, ANON | MAP_POPULATE)
    s = p.smaps(a)
    assert s["Rss"] == s["Size"] == 8 * KB
    assert s["Anonymous"] == 8 * KB


def test_map_populate_private_writable_file_cows(m, p, sparse_map):
    fd, _ = sparse_map(p, "/data/f", 8 * PAGE)
    a = p.mmap(0, 8 * PAGE, RW, MAP_PRIVATE | MAP_POPULATE, fd, 0)
    s = p.smaps(a)
    assert s["Anonymous"] == s["Size"] == s["Rss"] == 8 * KB
    assert m.meminfo()["Dirty"] == 0


def test_map_populate_private_readonly_file_maps_cache(m, p, sparse_map):
    fd, _ = sparse_map(p, "/data/f", 8 * PAGE)
    a = p.mmap(0, 8 * PAGE, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0)
    s = p.smaps(a)
    assert s["Rss"] == 8 * KB and s["Anonymous"] == 0


def test_map_populate_shared_writable_dirties_only_on_2_6_37(m, p, sparse_map, kernel):
    """make_pages_present: 2.6.37 write = VM_WRITE (shared too); 5ecfda041e4b
    (2.6.38) write only for private writable mappings."""
    fd, _ = sparse_map(p, "/data/f", 8 * PAGE)
    a = p.mmap(0, 8 * PAGE, RW, MAP_SHARED | MAP_POPULATE, fd, 0)
    s = p.smaps(a)
    assert s["Rss"] == 8 * KB
    assert s["Anonymous"] == 0
    if kernel == "2.6.37":
        assert m.meminfo()["Dirty"] == 8 * KB
        assert s["Private_Dirty"] == 8 * KB
    else:
        assert m.meminfo()["Dirty"] == 0
        assert s["Private_Clean"] == 8 * KB and s["Private_Dirty"] == 0


def test_map_populate_shared_writable_ext4_reserves_only_on_2_6_37(m, p, sparse_map,
                                                                    kernel):
    fd, _ = sparse_map(p, "/data/f", 8 * PAGE)
    p.mmap(0, 8 * PAGE, RW, MAP_SHARED | MAP_POPULATE, fd, 0)
    blocks = m.stat("/data/f").st_blocks
    assert blocks == (8 * PAGE // 512 if kernel == "2.6.37" else 0)


def test_map_populate_prot_none_populates_nothing(p):
    a = p.mmap(0, 4 * PAGE, PROT_NONE, ANON | MAP_POPULATE)
    assert p.smaps(a)["Rss"] == 0


def test_mlockall_current_then_populate_consistent(p):
    # mlockall(MCL_CURRENT) faults every mapping in: same Rss as MAP_POPULATE
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlockall(MCL_CURRENT)
    assert p.smaps(a)["Rss"] == 4 * KB
