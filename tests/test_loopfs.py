"""mmsim.loopfs: real filesystems in loop images, and mmsim.real runs inside them.

Tests that make loop devices need root, /dev/loop-control, losetup and the
mkfs tools; elsewhere they skip with loopfs.available()'s one-line reason.
Every test checks that nothing of its own is left: no mount, no loop
device, no directory.
"""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mmsim import loopfs, real
from mmsim._abi import MiB, PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_SHARED

ROOT = Path(__file__).resolve().parent.parent
OK, WHY = loopfs.available()
needs_loop = pytest.mark.skipif(not OK, reason=f"no loop filesystems: {WHY}")
pytestmark = pytest.mark.real


def _ours(pid=None):
    """Return the mounts, loop devices and directories of loopfs that belong to pid."""
    tag = f"{loopfs.PREFIX}{pid or os.getpid()}-"
    mounts = [mp for mp, _s, _t in loopfs._mounts() if tag in mp]
    devices = [d for d, b in loopfs._loop_devices().items() if tag in b]
    base = real.scratch_base()
    dirs = [n for n in os.listdir(base) if n.startswith(tag)]
    return mounts, devices, dirs


@pytest.fixture(autouse=True)
def nothing_left():
    yield
    assert _ours() == ([], [], [])


def _wait_gone(pid, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _ours(pid) == ([], [], []):
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------
# Without root, or with bad arguments


def test_not_root_says_why_and_refuses(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ok, why = loopfs.available()
    assert not ok and why.startswith("not root")
    assert loopfs.available("xfs") == (False, why)
    with pytest.raises(real.Unavailable, match="not root"):
        with loopfs.mounted("ext4"):
            pass


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: checks root without CAP_SYS_ADMIN")
def test_root_without_cap_sys_admin_says_why(monkeypatch):
    monkeypatch.setattr(real, "current_caps", lambda which="CapEff": {"CAP_IPC_LOCK"})
    ok, why = loopfs.available("ext4")
    assert not ok and "CAP_SYS_ADMIN" in why


def test_available_never_raises(monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("broken /proc")
    monkeypatch.setattr(loopfs, "_why_not", boom)
    ok, why = loopfs.available()
    assert not ok and "broken /proc" in why


@pytest.mark.parametrize("fstype, size, options, exc, code", [
    ("ext4", 513 * MiB, "", real.Refused, None),
    ("ext4", 8 * MiB, "", OSError, errno.EINVAL),
    ("ntfs", 64 * MiB, "", OSError, errno.ENODEV),
    ("ext4", 64.0 * MiB, "", OSError, errno.EINVAL),
    ("ext4", 64 * MiB, "noatime, sync", OSError, errno.EINVAL),
])
def test_refusals(fstype, size, options, exc, code):
    with pytest.raises(exc) as e:
        with loopfs.mounted(fstype, size=size, options=options):
            pass
    if code is not None:
        assert e.value.errno == code


def test_mkfs_options_make_small_images():
    assert "--mixed" in loopfs.mkfs_command("btrfs", "/dev/loop9", 64 * MiB)[0]
    assert "--mixed" not in loopfs.mkfs_command("btrfs", "/dev/loop9", 128 * MiB)[0]
    assert loopfs.mkfs_command("xfs", "/dev/loop9", 64 * MiB)[1]["QA_CHECK_FS"]
    assert loopfs.mkfs_command("xfs", "/dev/loop9", 512 * MiB)[1] == {}
    argv = loopfs.mkfs_command("ext2", "/dev/loop9", 64 * MiB)[0]
    assert argv[-1] == "/dev/loop9" and "4096" in argv and "-m" in argv


# ---------------------------------------------------------------------------
# The context manager


@needs_loop
@pytest.mark.parametrize("fstype", loopfs.FILESYSTEMS)
def test_mounted_makes_mounts_and_removes(fstype):
    if not loopfs.available(fstype)[0]:
        pytest.skip(loopfs.available(fstype)[1])
    with loopfs.mounted(fstype, size=loopfs.MIN_SIZE * 2) as fs:
        assert (fs.fstype, fs.size) == (fstype, 32 * MiB)
        assert (fs.path, fs.device, fstype) in [(mp, s, t) for mp, s, t in loopfs._mounts()]
        assert loopfs._backing_file(fs.device) == fs.image
        assert os.stat(fs.image).st_size == 32 * MiB
        assert os.stat(fs.image).st_blocks * 512 < 32 * MiB        # sparse
        assert loopfs.owner(fs.path + "/a/b") is fs
        Path(fs.path, "kept").write_bytes(b"on disk")
        fs.remount()
        assert Path(fs.path, "kept").read_bytes() == b"on disk"
        image, device = fs.image, fs.device
    assert loopfs.owner(fs.path) is None
    assert not os.path.exists(image)
    assert loopfs._backing_file(device) in (None, "") or image not in loopfs._backing_file(device)


@needs_loop
def test_remount_while_busy_is_ebusy():
    with loopfs.mounted("ext4", size=32 * MiB) as fs:
        with open(fs.path + "/open", "w"):
            with pytest.raises(OSError) as e:
                fs.remount()
            assert e.value.errno == errno.EBUSY


@needs_loop
def test_host_floor_still_applies_to_the_image(monkeypatch):
    monkeypatch.setattr(real, "FREE_FLOOR", 1 << 60)
    with pytest.raises(real.Refused, match="loop image"):
        with loopfs.mounted("ext4", size=32 * MiB):
            pass


# ---------------------------------------------------------------------------
# mmsim.real inside a loop filesystem


def _fill_with_pwrite(m, p):
    """pwrite 1 MiB at a time until ENOSPC: no floor inside the image, the kernel's errno."""
    fd = p.open(m.scratch + "/fill", os.O_RDWR | os.O_CREAT)
    chunk, written = b"x" * MiB, 0
    try:
        while True:
            written += p.pwrite(fd, chunk, written)
    except OSError as e:
        return {"errno": errno.errorcode[e.errno], "written_mib": written // MiB}


@needs_loop
def test_run_inside_has_no_free_space_floor():
    with loopfs.mounted("ext4", size=32 * MiB) as fs:
        r = real.run(_fill_with_pwrite, scratch_dir=fs.path, timeout=30)
    assert r["errno"] == "ENOSPC" and 20 <= r["written_mib"] <= 32


def _write_remount_read(m, p):
    path = m.scratch + "/data"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.pwrite(fd, b"mlock" * 1000, 0)
    try:
        m.remount()
        busy = None
    except OSError as e:
        busy = errno.errorcode[e.errno]
    p.close(fd)
    m.remount()
    fd = p.open(path, os.O_RDONLY)
    return {"busy": busy, "back": p.pread(fd, 5000, 0) == b"mlock" * 1000}


@needs_loop
def test_remount_inside_a_run():
    with loopfs.mounted("xfs", size=32 * MiB) as fs:
        r = real.run(_write_remount_read, scratch_dir=fs.path, timeout=30)
    assert r == {"busy": "EBUSY", "back": True}


def test_remount_outside_loopfs_is_unavailable():
    if not real.available()[0]:
        pytest.skip(real.available()[1])
    with pytest.raises(real.Unavailable, match="not in a loop filesystem"):
        real.run(lambda m, p: m.remount(), timeout=30)


def _progress_then_sleep(m, p):
    for i in range(5):
        m.progress(step=i, note="sleeping")
    m.sleep(60)


def test_timeout_is_an_outcome_with_the_last_progress():
    if not real.available()[0]:
        pytest.skip(real.available()[1])
    t0 = time.monotonic()
    r = real.run(_progress_then_sleep, timeout=1, at_timeout="still running after {seconds:g} s")
    assert r == {"step": 4, "note": "sleeping", "outcome": "still running after 1 s"}
    with pytest.raises(real.Timeout) as e:
        real.run(_progress_then_sleep, timeout=1)
    assert e.value.progress == {"step": 4, "note": "sleeping"}
    assert time.monotonic() - t0 < 10


# ---------------------------------------------------------------------------
# Killing: the experiment's child, then the parent itself


def _sparse_shared(m, p, length=16 * PAGE_SIZE):
    """Map a new sparse file of the scratch dir shared and writable; return the address."""
    fd = p.open(m.scratch + "/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, length)
    return p.mmap(0, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)


def _map_then_die(m, p):
    p.touch(_sparse_shared(m, p), 16 * PAGE_SIZE, write=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _lock_then_hang(m, p):
    a = _sparse_shared(m, p)
    p.mlock(a, 16 * PAGE_SIZE)
    p.touch(a, 16 * PAGE_SIZE, write=True)
    m.sleep(60)


@needs_loop
@pytest.mark.parametrize("experiment, error", [(_map_then_die, real.ChildDied),
                                               (_lock_then_hang, real.Timeout)])
def test_killed_or_timed_out_child_leaves_nothing(experiment, error):
    with loopfs.mounted("ext4", size=32 * MiB) as fs:
        with pytest.raises(error):
            real.run(experiment, scratch_dir=fs.path, timeout=2, memlock=(1 * MiB, 1 * MiB))
        assert os.listdir(fs.path) == ["lost+found"]
        fs.remount()                # nothing holds the filesystem any more


_PARENT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from mmsim import loopfs, real
    from mmsim._abi import MiB, PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_SHARED

    def experiment(m, p):
        fd = p.open(m.scratch + "/f", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 64 * PAGE_SIZE)
        a = p.mmap(0, 64 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        p.mlock(a, 64 * PAGE_SIZE)
        p.touch(a, 64 * PAGE_SIZE, write=True)
        open(m.scratch + "/../running", "w").close()
        time.sleep(120)

    with loopfs.mounted({fstype!r}, size=32 * MiB) as fs:
        print(fs.path, flush=True)
        real.run(experiment, scratch_dir=fs.path, timeout=120)
""")


@needs_loop
@pytest.mark.parametrize("fstype", ["ext4", "btrfs"])
def test_killed_parent_leaves_nothing(fstype):
    """SIGKILL to a process inside `with mounted(...)` mid-experiment: the reaper cleans up."""
    proc = subprocess.Popen([sys.executable, "-c", _PARENT.format(root=str(ROOT), fstype=fstype)],
                            stdout=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not os.path.exists(path + "/running") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(path + "/running"), "the experiment did not start"
        assert _ours(proc.pid)[0] == [path]
        proc.kill()
        proc.wait()
        assert _wait_gone(proc.pid, 15), f"left behind: {_ours(proc.pid)}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


@needs_loop
def test_sweep_removes_what_a_dead_process_left():
    """A mount, a loop device and a directory whose owner is gone and whose reaper never ran."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    base = real.scratch_base()
    workdir = os.path.join(base, f"{loopfs.PREFIX}{dead.pid}-ext2-test")
    image, mnt = workdir + "/image", workdir + "/mnt"
    os.makedirs(mnt)
    try:
        with open(image, "wb") as f:
            f.truncate(32 * MiB)
        dev = loopfs._run([loopfs._tool("losetup"), "--find", "--show", image], "losetup").strip()
        assert loopfs._backing_file(dev) == image
        argv, env = loopfs.mkfs_command("ext2", dev, 32 * MiB)
        loopfs._run(argv, "mkfs", env=env)
        loopfs._run([loopfs._tool("mount"), dev, mnt], "mount")
        assert _ours(dead.pid)[0] == [mnt]
        removed = loopfs.sweep(base)
        assert mnt in removed and dev in removed and workdir in removed
        assert _ours(dead.pid) == ([], [], [])
    finally:
        loopfs._cleanup(workdir, mnt, image, None)


@needs_loop
def test_a_forked_child_does_not_hold_the_reaper_pipe():
    """Else a dead caller's reaper would wait for every child that outlived it."""
    with loopfs.mounted("ext4", size=32 * MiB):
        pipes = set(loopfs._REAPER_PIPES)
        assert pipes
        pid = os.fork()
        if pid == 0:
            code = 0
            for w in pipes:
                try:
                    os.fstat(w)
                    code = 1
                except OSError:
                    pass
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
