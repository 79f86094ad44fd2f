"""LTP's mprotect cases, ported: testcases/kernel/syscalls/mprotect/ of
linux-test-project/ltp (read at 695827725f4f).

A SIGSEGV LTP catches in a child (or with sigsetjmp) is the mmsim.Signal the
store raises; the child is p.fork(). A file LTP fills with write(2) only to
give it a size gets it from ftruncate(2).

Not expressible: mprotect04's PROT_EXEC half (copying a function into the
mapping and calling it: the simulator runs no code); mprotect01's /dev/zero
(a read-only regular file stands in: both give a vma without VM_MAYWRITE).
"""

import os
import signal

import pytest

import mmsim
from mmsim import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE, PROT_READ, \
    PROT_WRITE

from peer_support import EACCES, EINVAL, ENOMEM, PAGE, RELEASES, errno_of, machine, new_file

RW = PROT_READ | PROT_WRITE
BUF = b"abcdefghijklmnopqrstuvwxyz"


def segv(fn, *args):
    with pytest.raises(mmsim.Signal) as exc:
        fn(*args)
    assert exc.value.signo == signal.SIGSEGV


@pytest.mark.parametrize("kernel", RELEASES)
def test_mprotect01_enomem(kernel):
    """mprotect01.c test1: address 0, length pagesize + 1 (nothing mapped): ENOMEM."""
    m = machine(kernel)
    p = m.spawn()
    p.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    assert errno_of(p.mprotect, 0, PAGE + 1, PROT_READ) == ENOMEM


@pytest.mark.parametrize("kernel", RELEASES)
def test_mprotect01_einval(kernel):
    """mprotect01.c test2: a malloc()ed pointer + 1, not page aligned: EINVAL."""
    m = machine(kernel)
    p = m.spawn()
    addr = p.mmap(0, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS) + 16
    assert errno_of(p.mprotect, addr + 1, 1024, PROT_READ) == EINVAL


@pytest.mark.parametrize("kernel", RELEASES)
def test_mprotect01_eacces(kernel):
    """mprotect01.c test3: a MAP_SHARED, PROT_READ mapping of a file open
    O_RDONLY cannot become PROT_WRITE: EACCES."""
    m = machine(kernel)
    p = m.spawn()
    new_file(p, "/mnt/zero", PAGE)
    fd = p.open("/mnt/zero", os.O_RDONLY)
    addr = p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert errno_of(p.mprotect, addr, PAGE, PROT_WRITE) == EACCES


@pytest.mark.parametrize("kernel", RELEASES)
def test_mprotect02(kernel):
    """mprotect02.c: a page-sized file mapped PROT_READ, MAP_SHARED: a child's
    memcpy into it gets SIGSEGV; after mprotect(PROT_WRITE) a child's memcpy
    succeeds."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mprotect02.tmp", PAGE)
    addr = p.mmap(0, len(BUF), PROT_READ, MAP_SHARED, fd, 0)
    segv(p.fork().write, addr, BUF)
    p.mprotect(addr, len(BUF), PROT_WRITE)
    child = p.fork()
    child.write(addr, BUF)
    assert child.read(addr, len(BUF)) == BUF


@pytest.mark.parametrize("kernel", RELEASES)
def test_mprotect03(kernel):
    """mprotect03.c: a shared PROT_READ | PROT_WRITE file mapping made PROT_READ:
    a child's memcpy into it gets SIGSEGV."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mprotect03.tmp", len(BUF))
    addr = p.mmap(0, len(BUF), RW, MAP_SHARED, fd, 0)
    p.mprotect(addr, len(BUF), PROT_READ)
    segv(p.fork().write, addr, BUF)


@pytest.mark.parametrize("kernel", RELEASES)
def test_mprotect04_protnone(kernel):
    """mprotect04.c testfunc_protnone: a private anonymous page made PROT_NONE:
    a store raises SIGSEGV."""
    p = machine(kernel, fs=None).spawn()
    addr = p.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    p.mprotect(addr, PAGE, PROT_NONE)
    segv(p.write, addr, b"\x01")


@pytest.mark.parametrize("kernel", RELEASES)
def test_mprotect05(kernel):
    """mprotect05.c (2fcd07b7ccd5, bugzilla 217061): a 5-page shared PROT_READ
    file mapping; page 1 made PROT_EXEC, page 3 PROT_WRITE, pages 1-4 PROT_READ
    again: every call succeeds, and the splits merge back into one vma."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mprotect05-testfile")
    full = 5 * PAGE
    addr = p.mmap(0, full, PROT_READ, MAP_SHARED, fd, 0)
    p.mprotect(addr + PAGE, PAGE, PROT_EXEC)
    p.mprotect(addr + 3 * PAGE, PAGE, PROT_WRITE)
    assert len(p.smaps()) == 5
    p.mprotect(addr + PAGE, 4 * PAGE, PROT_READ)
    assert [(v["start"], v["end"]) for v in p.smaps()] == [(addr, addr + full)]
    p.munmap(addr, full)
