"""What a simulated process gets back when the kernel says no.

Bad input to mmsim raises what Linux would return: ``OSError`` with the
matching errno, ``Signal`` for a fault that delivers SIGBUS or SIGSEGV, and
``Hung`` for an operation that makes no progress within its simulated budget.
"""

import errno as _errno
import math
import os
import signal as _signal


class Signal(Exception):
    """A fault delivered a signal (arch/x86/mm/fault.c: do_sigbus, bad_area).

    The process lives on, as memtoy does with its own signal handlers.
    """

    def __init__(self, signo, addr, function=""):
        self.signo = signo
        self.addr = addr
        self.function = function
        name = _signal.Signals(signo).name
        where = f" in {function}" if function else ""
        super().__init__(f"{name} at {addr:#x}{where}")


class Hung(Exception):
    """A task made no progress within its simulated-time budget.

    ``function`` is the kernel function it is stuck in, ``after`` the
    simulated seconds it waited, ``state`` a dict of what kept it there.
    """

    def __init__(self, function, after, state=None):
        self.function = function
        self.after = after
        self.state = dict(state or {})
        detail = ", ".join(f"{k}={v}" for k, v in self.state.items())
        super().__init__(f"hung in {function} after {after:.1f} s simulated"
                         + (f" ({detail})" if detail else ""))


def error(code, what=""):
    """Return the OSError a syscall fails with, as Python's os module builds it."""
    msg = os.strerror(code)
    return OSError(code, f"{msg}: {what}" if what else msg)


def as_seconds(value, what, positive=False):
    """Return value as a finite number of simulated seconds, or raise EINVAL.

    positive: zero is refused too.
    """
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise error(_errno.EINVAL, f"{what} must be a number of seconds, not {value!r}") from None
    if not (math.isfinite(s) and (s > 0 if positive else s >= 0)):
        raise error(_errno.EINVAL, f"{what} must be a {'positive' if positive else 'non-negative'} "
                    f"finite number of seconds, not {value!r}")
    return s


EPERM, ENOENT, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT = (
    _errno.EPERM, _errno.ENOENT, _errno.EBADF, _errno.EAGAIN, _errno.ENOMEM,
    _errno.EACCES, _errno.EFAULT)
EEXIST, ENODEV, EINVAL, EFBIG, ENOSPC, ESRCH, ENOSYS = (
    _errno.EEXIST, _errno.ENODEV, _errno.EINVAL, _errno.EFBIG, _errno.ENOSPC,
    _errno.ESRCH, _errno.ENOSYS)
EOVERFLOW, EOPNOTSUPP, EISDIR, ENOTDIR, EIO, EBUSY = (
    _errno.EOVERFLOW, _errno.EOPNOTSUPP, _errno.EISDIR, _errno.ENOTDIR, _errno.EIO,
    _errno.EBUSY)
