"""Shared fixtures for the engine tests: a machine per kernel version, processes
with the limits a test needs, and a helper that makes a sparse file and maps it.

Kernel versions come from one parametrised fixture, so every test that asks
for ``kernel`` (or for ``m``, ``make_machine``) runs once per version.
"""

import os

import pytest

import mmsim
from mmsim import GiB, MiB, MAP_SHARED, PROT_READ, PROT_WRITE, RLIM_INFINITY

KERNELS = ("2.6.37", "2.6.38", "6.18")
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)


@pytest.fixture(params=KERNELS)
def kernel(request):
    """Each simulated kernel version in turn."""
    return request.param


@pytest.fixture
def make_machine(kernel):
    """Return a factory: a fresh Machine on this test's kernel with one filesystem.

    make(fs="ext4", size=64 MiB, options="", mount="/data", ram=1 GiB, kernel=None);
    fs=None mounts nothing.
    """
    def make(fs="ext4", size=64 * MiB, options="", mount="/data", ram=GiB,
             kernel=None):
        m = mmsim.Machine(kernel=kernel or request_kernel, ram=ram)
        if fs is not None:
            m.mkfs(mount, fs=fs, size=size, options=options)
        return m
    request_kernel = kernel
    return make


@pytest.fixture
def m(make_machine):
    """A machine on this test's kernel with a 64 MiB ext4 filesystem on /data."""
    return make_machine()


@pytest.fixture
def p(m):
    """An unprivileged process with no RLIMIT_MEMLOCK in the way (unlimited)."""
    return m.spawn(memlock=UNLIMITED)


def map_sparse(p, path, length, prot=PROT_READ | PROT_WRITE, flags=MAP_SHARED,
               oflags=os.O_RDWR | os.O_CREAT, size=None, offset=0):
    """Create path as a sparse file of size bytes (default length) and map it.

    Return (fd, address of the mapping).
    """
    fd = p.open(path, oflags)
    if size is None:
        size = offset + length
    if oflags & os.O_ACCMODE != os.O_RDONLY:
        p.ftruncate(fd, size)
    addr = p.mmap(0, length, prot, flags, fd, offset)
    return fd, addr


@pytest.fixture
def sparse_map():
    """The map_sparse helper: (p, path, length, prot=, flags=, ...) -> (fd, addr)."""
    return map_sparse

