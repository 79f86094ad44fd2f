"""Real filesystems in loop images, as scratch directories for mmsim.real.

    from mmsim import loopfs, real
    ok, why = loopfs.available("xfs")
    with loopfs.mounted("xfs", size=64 * MiB) as fs:
        real.run(experiment, scratch_dir=fs.path, timeout=20)
        fs.remount()

``mounted`` makes a sparse image file in a fresh temporary directory (on the
filesystem mmsim.real.scratch_base() picks), attaches it to a free loop
device (losetup --find --show: LOOP_CTL_GET_FREE on /dev/loop-control, then
LOOP_CONFIGURE), checks that the device's backing file
(/sys/block/loopN/loop/backing_file) is that image before mkfs touches it,
makes the filesystem and mounts it (mount(2) through mount(8)). Inside it,
mmsim.real's free-space floor does not apply: filling the image is the
experiment. The host filesystem that holds the image keeps its floor: an
image that could push it under is refused before it is made.

Cleaning up (umount, lazily if busy: umount2 MNT_DETACH; losetup -d:
LOOP_CLR_FD, which on a busy device sets LO_FLAGS_AUTOCLEAR; the directory
removed) happens on leaving the block, and also when the caller is killed:
a reaper process, started in a session of its own before anything is
made, holds the read end of a pipe whose write end only the caller has; when
the pipe closes without the word "done" (the caller died, even by SIGKILL),
the reaper cleans up. Whatever a reaper could not clean (the machine lost
power) is swept by the next ``mounted()`` or ``sweep()``: directories, mount
points and loop devices whose names carry PREFIX and the pid of a process
that no longer exists.

Minimum image sizes (MIN_SIZE), measured with e2fsprogs 1.47, xfsprogs 6.1
and btrfs-progs 6.2: xfsprogs >= 5.19 refuses data sections under 300 MB
unless the fstests variables TEST_DIR, TEST_DEV and QA_CHECK_FS are set,
which mkfs_command sets (the smallest it then makes is 16 MiB); mkfs.btrfs
refuses devices under 114294784 bytes (109 MiB) unless --mixed (data and
metadata in shared block groups), which is passed below that size. ext2/3/4
are made with 4 KiB blocks (-b 4096: mke2fs would pick 1 KiB ones for a
"small" filesystem, and the simulator models page-sized blocks) and no
blocks reserved for root (-m 0), so free space is the same for every user.
"""

import contextlib
import errno as _errno
import os
import re
import shutil
import signal as _signal
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20                    # not from ._abi: the reaper loads this file on its own

__all__ = ["FILESYSTEMS", "MAX_SIZE", "DEFAULT_SIZE", "MIN_SIZE", "PREFIX", "available",
           "mounted", "LoopFs", "sweep", "owner", "mkfs_command", "BTRFS_MIXED_BELOW"]

FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs")
MAX_SIZE = 512 * MiB
DEFAULT_SIZE = 64 * MiB
MIN_SIZE = 16 * MiB              # the smallest every one of FILESYSTEMS can be made at
BTRFS_MIXED_BELOW = 114294784    # mkfs.btrfs: "minimum size for each btrfs device"
PREFIX = "mmsim-loopfs-"
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_XFS_SMALL_ENV = {"TEST_DIR": "/nonexistent", "TEST_DEV": "/nonexistent", "QA_CHECK_FS": "1"}

_REAPER_PIPES = set()            # write ends of this process's reapers' pipes


def _forget_reapers():
    """In a forked child: close the reapers' pipes, which only the caller may hold open.

    Otherwise a child (an experiment of mmsim.real, any fork without exec)
    would keep a dead caller's reaper waiting until the child ends too.
    """
    for w in list(_REAPER_PIPES):
        try:
            os.close(w)
        except OSError:
            pass
    _REAPER_PIPES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_reapers)


def _oserror(code, what):
    return OSError(code, f"{os.strerror(code)}: {what}")


def _tool(name):
    """Return the path of a program, looked for on PATH and in the sbin directories."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SBIN)
    return shutil.which(name, path=path)


def _kernel_has(fstype):
    """Return True if /proc/filesystems lists fstype (fs/filesystems.c: filesystems_proc_show)."""
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == fstype for line in f if line.strip())
    except OSError:
        return False


def _why_not(fstype):
    """Return why fstype cannot be mounted in a loop image here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"loop filesystems need Linux; this is {sys.platform}"
    if os.geteuid() != 0:
        return "not root: making a loop device and mounting need CAP_SYS_ADMIN"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control (the loop driver is not loaded, or this container has no loop devices)"
    for t in ("losetup", "mount", "umount"):
        if _tool(t) is None:
            return f"no {t} (util-linux / mount)"
    if fstype not in FILESYSTEMS:
        return f"unknown filesystem {fstype!r}; choose one of {', '.join(FILESYSTEMS)}"
    if _tool(f"mkfs.{fstype}") is None:
        pkg = {"xfs": "xfsprogs", "btrfs": "btrfs-progs"}.get(fstype, "e2fsprogs")
        return f"no mkfs.{fstype} (install {pkg})"
    if not _kernel_has(fstype):
        modprobe = _tool("modprobe")
        if modprobe:
            subprocess.run([modprobe, "-q", fstype], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False, timeout=30)
        if not _kernel_has(fstype):
            return f"this kernel cannot mount {fstype} (not in /proc/filesystems, modprobe did not load it)"
    return None


def available(fstype=None):
    """Return (True, what) or (False, why) loop filesystems cannot be made here; never raise.

    fstype=None: (True, ...) if at least one of FILESYSTEMS can be made, the
    reason naming those that cannot.
    """
    try:
        if fstype is not None:
            why = _why_not(fstype)
            if why:
                return False, why
            return True, f"{fstype} in a loop image (root, /dev/loop-control, losetup, mkfs.{fstype})"
        whys = {fs: _why_not(fs) for fs in FILESYSTEMS}
        ok = [fs for fs, w in whys.items() if w is None]
        if not ok:
            common = set(whys.values())
            return False, common.pop() if len(common) == 1 else "; ".join(
                f"{fs}: {w}" for fs, w in whys.items())
        missing = "; ".join(f"{fs}: {w}" for fs, w in whys.items() if w)
        return True, f"loop images of {', '.join(ok)}" + (f" (not {missing})" if missing else "")
    except Exception as e:              # never raise: say what went wrong
        return False, f"cannot tell: {type(e).__name__}: {e}"


def mkfs_command(fstype, device, size):
    """Return (argv, extra environment) that make fstype on device, quietly, for a size-byte image."""
    mkfs = _tool(f"mkfs.{fstype}")
    if fstype in ("ext2", "ext3", "ext4"):
        return [mkfs, "-q", "-F", "-b", "4096", "-m", "0", device], {}
    if fstype == "xfs":
        return [mkfs, "-q", "-f", device], dict(_XFS_SMALL_ENV) if size < 300 * MiB else {}
    return [mkfs, "-q", "-f"] + (["--mixed"] if size < BTRFS_MIXED_BELOW else []) + [device], {}


# ---------------------------------------------------------------------------
# Running the tools


def _env(extra=None):
    """The tools' environment: the sbin directories on PATH, messages in English (LC_ALL=C)."""
    full = dict(os.environ, **(extra or {}))
    full["PATH"] = full.get("PATH", "") + os.pathsep + os.pathsep.join(_SBIN)
    full["LC_ALL"] = "C"
    return full


def _run(argv, what, env=None, timeout=60):
    """Run a tool; raise OSError(EIO) with its stderr if it fails."""
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             env=_env(env), timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise _oserror(_errno.ETIMEDOUT, f"{what}: {argv[0]} ran past {timeout} s") from None
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise _oserror(_errno.EIO, f"{what}: {' '.join(argv)}: {msg[-1] if msg else res.returncode}")
    return res.stdout


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def _mounts():
    """Return [(mount point, source, fstype)] from /proc/self/mountinfo (fs/proc_namespace.c)."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if "-" in fields:
                    k = fields.index("-")
                    out.append((_unescape(fields[4]), _unescape(fields[k + 2]), fields[k + 1]))
    except OSError:
        pass
    return out


def _is_mounted(path):
    return any(mp == path for mp, _src, _t in _mounts())


def _backing_file(device):
    """Return the backing file of a loop device (drivers/block/loop.c: loop_attr_backing_file_show)."""
    name = os.path.basename(device)
    try:
        with open(f"/sys/block/{name}/loop/backing_file") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None


def _loop_devices():
    """Return {"/dev/loopN": backing file} for every attached loop device."""
    out = {}
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return out
    for name in names:
        if name.startswith("loop"):
            b = _backing_file(name)
            if b:
                out[f"/dev/{name}"] = b
    return out


def _umount(path):
    """Unmount path; if it is busy, detach it lazily (umount2 MNT_DETACH)."""
    if not _is_mounted(path):
        return
    umount = _tool("umount")
    if subprocess.run([umount, path], capture_output=True, check=False, timeout=60,
                      env=_env()).returncode:
        subprocess.run([umount, "-l", path], capture_output=True, check=False, timeout=60,
                       env=_env())


def _detach(device, image):
    """losetup -d device (LOOP_CLR_FD), only if its backing file is still image."""
    b = _backing_file(device)
    if b is None or not (b == image or b == image + " (deleted)"):
        return
    subprocess.run([_tool("losetup"), "-d", device], capture_output=True, check=False, timeout=60,
                   env=_env())


def _cleanup(workdir, mnt, image, device):
    """Unmount, detach and delete: every step skipped if already done."""
    _umount(mnt)
    for dev, b in _loop_devices().items():   # the device we know, and any other on our image
        if dev == device or b in (image, image + " (deleted)"):
            _detach(dev, image)
    shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# The reaper: cleans up when the pipe from its caller closes without "done"

_REAPER = r"""
import os, subprocess, shutil, sys, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
import importlib.util
spec = importlib.util.spec_from_file_location("mmsim_loopfs_reaper", sys.argv[1])
loopfs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loopfs)
workdir, mnt, image = sys.argv[2:5]
device, done, buf = None, False, b""
while True:
    try:
        chunk = os.read(0, 4096)
    except InterruptedError:
        continue
    if not chunk:
        break
    buf += chunk
    *lines, buf = buf.split(b"\n")
    for line in lines:
        word, _, arg = line.decode().partition(" ")
        if word == "device":
            device = arg
        elif word == "done":
            done = True
if not done:
    loopfs._cleanup(workdir, mnt, image, device)
"""


def _start_reaper(workdir, mnt, image):
    """Start the reaper in a session of its own; return (Popen, write end of its pipe)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _REAPER, os.path.abspath(__file__),
                                 workdir, mnt, image],
                                stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True, cwd="/")
    finally:
        os.close(r)
    _REAPER_PIPES.add(w)
    return proc, w


def _stop_reaper(proc, w, done):
    """Close the reaper's pipe (done: it has nothing to do) and wait for it."""
    try:
        if done:
            os.write(w, b"done\n")
    except OSError:
        pass
    _REAPER_PIPES.discard(w)
    os.close(w)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------
# Leftovers of processes that are gone

_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-[^/]*")


def _dead(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _owner_pid(path):
    """Return the pid in the first PREFIX<pid>- component of path, or None."""
    m = _NAME.search(path)
    return int(m.group(1)) if m else None


def sweep(base=None):
    """Remove what loop filesystems of dead processes left: mounts, loop devices, directories.

    Only names carrying PREFIX and a pid that no longer exists are touched:
    first their mounts (lazily if busy), then their loop devices (if the
    backing file is still theirs, deleted or not), then the directories in
    base (default: mmsim.real.scratch_base()). Return what was removed.
    """
    from . import real
    removed = []
    for mp, _src, _t in reversed(_mounts()):
        pid = _owner_pid(mp)
        if pid is not None and _dead(pid):
            _umount(mp)
            removed.append(mp)
    for dev, b in _loop_devices().items():
        pid = _owner_pid(b)
        if pid is not None and _dead(pid):
            image = b[:-len(" (deleted)")] if b.endswith(" (deleted)") else b
            _detach(dev, image)
            removed.append(dev)
    base = base or real.scratch_base()
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for name in names:
        pid = _owner_pid(name)
        path = os.path.join(base, name)
        if pid is not None and name.startswith(PREFIX) and _dead(pid) and not _is_mounted(
                os.path.join(path, "mnt")):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# ---------------------------------------------------------------------------
# The context manager


class LoopFs:
    """A filesystem in a loop image, mounted: what ``mounted()`` yields.

    path: the mount point (pass it to mmsim.real.run as scratch_dir);
    fstype, size (bytes of the image), device (/dev/loopN), image (its file).
    """

    def __init__(self, fstype, size, options, workdir, image, path):
        self.fstype, self.size, self.options = fstype, size, options
        self.workdir, self.image, self.path = workdir, image, path
        self.device = None

    def __repr__(self):
        return f"LoopFs({self.fstype!r}, {self.size // MiB} MiB, {self.device} on {self.path})"

    def _mount(self):
        argv = [_tool("mount"), "-t", self.fstype]
        if self.options:
            argv += ["-o", self.options]
        _run(argv + [self.device, self.path], f"mount {self.fstype}")

    def remount(self):
        """Unmount and mount again: the page cache of the fs is dropped, data is read from disk.

        fs/namespace.c: umount (which syncs the filesystem, generic_shutdown_super)
        then mount. EBUSY if a process still has a file open or mapped in it.
        """
        umount = _tool("umount")
        res = subprocess.run([umount, self.path], capture_output=True, text=True, check=False,
                             timeout=120, env=_env())
        if res.returncode:
            busy = "busy" in (res.stderr or "")
            raise _oserror(_errno.EBUSY if busy else _errno.EIO,
                           f"umount {self.path}: {res.stderr.strip()}")
        self._mount()

    def statfs(self):
        """Return os.statvfs of the mount point (fs/statfs.c)."""
        return os.statvfs(self.path)


def _check_args(fstype, size, options):
    if fstype not in FILESYSTEMS:
        raise _oserror(_errno.ENODEV, f"unknown filesystem {fstype!r}; choose one of "
                       f"{', '.join(FILESYSTEMS)}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise _oserror(_errno.EINVAL, f"size must be an int of bytes, not {size!r}")
    if not isinstance(options, str) or any(c in options for c in " \n\t"):
        raise _oserror(_errno.EINVAL, f"options must be a comma-separated string, not {options!r}")


@contextlib.contextmanager
def mounted(fstype, size=DEFAULT_SIZE, options=""):
    """Make, mount and yield a LoopFs of fstype, size bytes (at most MAX_SIZE); always clean up.

    Raises Unavailable (mmsim.real) where available(fstype) says no,
    Refused for a size above MAX_SIZE or an image the host filesystem
    could not hold above its free-space floor, OSError EINVAL for a size
    under MIN_SIZE, ENODEV for an unknown filesystem, EIO if a tool fails.
    """
    from . import real
    _check_args(fstype, size, options)
    if size > MAX_SIZE:
        raise real.Refused(f"a loop image of {size // MiB} MiB: at most {MAX_SIZE // MiB} MiB")
    if size < MIN_SIZE:
        raise _oserror(_errno.EINVAL, f"a loop image of {size} bytes: at least {MIN_SIZE // MiB} MiB")
    ok, why = available(fstype)
    if not ok:
        raise real.Unavailable(why)
    base = real.scratch_base()
    sweep(base)
    real._check_free(base, size, f"a {size // MiB} MiB loop image")
    workdir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{fstype}-", dir=base)
    image, mnt = os.path.join(workdir, "image"), os.path.join(workdir, "mnt")
    fs = LoopFs(fstype, size, options, workdir, image, mnt)
    reaper = w = None
    try:
        os.mkdir(mnt, 0o755)
        reaper, w = _start_reaper(workdir, mnt, image)
        with open(image, "wb") as f:
            f.truncate(size)                       # sparse: no block until written
        fs.device = _run([_tool("losetup"), "--find", "--show", image], "losetup").strip()
        os.write(w, f"device {fs.device}\n".encode())
        if _backing_file(fs.device) != image:      # never mkfs anything but our image
            raise _oserror(_errno.EIO, f"{fs.device} is not backed by {image}")
        argv, env = mkfs_command(fstype, fs.device, size)
        _run(argv, f"mkfs.{fstype}", env=env, timeout=120)
        fs._mount()
        real.register_sandbox(mnt, fs)          # inherited by fork: the experiment's child sees it
        yield fs
    finally:
        real.unregister_sandbox(mnt)
        old = _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT})
        try:
            _cleanup(workdir, mnt, image, fs.device)
            if reaper is not None:
                _stop_reaper(reaper, w, done=not os.path.exists(workdir))
        finally:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, old)


def owner(path):
    """Return the LoopFs of this process that path is in (its mount point or below), or None."""
    from . import real
    fs = real.sandbox(path)
    return fs if isinstance(fs, LoopFs) else None
