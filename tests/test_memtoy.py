"""mmsim.memtoy and ``python -m mmsim memtoy``: Michel Lespinasse's memtoy session
of 19 Nov 2010, at full scale (a 20 GiB sparse file on a 10 GiB ext2 /data,
24 GiB of RAM, profile "2010"), and memtoy 0.16's own messages.

The sessions are module-scoped: each full-scale run happens once.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mmsim
from mmsim import GiB, MiB, PAGE_SIZE
from mmsim.memtoy import BOGUS_SIZE, Memtoy, size_kmgp, strtoul

ROOT = Path(__file__).resolve().parents[1]
HOLE = "/data/hole20G"
PAGES_20G = 20 * GiB // PAGE_SIZE            # 5,242,880
MICHEL = """\
file /data/hole20G shared
map hole20G
touch hole20G
lock hole20G
"""


def session(kernel, fs="ext2", script=MICHEL, partition=10 * GiB):
    """Run a memtoy script on a fresh full-scale machine; return (machine, memtoy, transcript)."""
    m = mmsim.Machine(kernel=kernel, ram=24 * GiB, profile="2010")
    m.mkfs("/data", fs=fs, size=partition)
    mt = Memtoy(m)
    mt.create_sparse(HOLE, 20 * GiB)
    return m, mt, mt.run_script(script)


def secs(transcript, pattern):
    """The simulated seconds printed on the line matching pattern (with one (group))."""
    found = re.search(pattern, transcript)
    assert found, transcript
    return float(found.group(1))


@pytest.fixture(scope="module")
def s37():
    return session("2.6.37")


@pytest.fixture(scope="module")
def s38():
    return session("2.6.38")


# -- Michel's session ---------------------------------------------------------------------
def test_transcript_looks_like_michels(s38):
    _, _, out = s38
    lines = out.splitlines()
    assert lines[:4] == ["memtoy>file /data/hole20G shared", "memtoy>map hole20G",
                         "memtoy>touch hole20G", lines[3]]
    assert re.fullmatch(r"memtoy:  touched 5242880 pages in [ \d]\d\.\d{3} secs", lines[3])
    assert lines[4] == "memtoy>lock hole20G"


@pytest.mark.parametrize("which", ["s37", "s38"])
def test_touch_takes_michels_30_595_seconds(which, request):
    _, mt, out = request.getfixturevalue(which)
    assert "memtoy:  touched 5242880 pages in" in out
    assert secs(out, r"touched 5242880 pages in +([\d.]+) secs") == pytest.approx(30.595, rel=0.10)


def test_2638_lock_takes_5_seconds_and_dirties_nothing(s38):
    m, mt, out = s38
    assert re.search(r"memtoy:  mlock of hole20G \[5242880 pages\] took +[\d.]+secs\.\n", out)
    assert secs(out, r"took +([\d.]+)secs\.") == pytest.approx(5.0, rel=0.25)
    assert mt.last.ok and mt.last.pages == PAGES_20G
    assert m.meminfo()["Dirty"] == 0
    assert m.stat(HOLE).st_blocks == 0
    assert not mt.killed


def test_2637_lock_never_returns(s37):
    m, mt, out = s37
    assert "mlock of hole20G" not in out
    hang = [ln for ln in out.splitlines() if "does not return" in ln]
    assert hang == ["memtoy:  lock hole20G does not return: task stuck in "
                    "balance_dirty_pages (simulated)"]
    assert "free_blocks[/data]=0" in out
    assert out.endswith("(simulated)\nKilled\n")
    assert mt.killed and not mt.process.alive
    assert isinstance(mt.last.hung, mmsim.Hung)
    assert mt.last.hung.function == "balance_dirty_pages"
    # the partition is full, and about 10 GiB of it went to the file
    assert m.statfs("/data").f_bfree == 0
    assert m.stat(HOLE).st_blocks * 512 == pytest.approx(10 * GiB, rel=0.05)


def test_after_the_kill_commands_say_so_and_quit_ends(s37):
    _, mt, _ = s37
    pid = mt.process.pid
    out = mt.run_line("touch hole20G")
    assert f"process {pid} was killed (kill -9)" in out
    assert "touched" not in out
    assert mt.run_line("quit") == ""
    assert mt.exit_status == 0
    assert mt.run_line("pid") == ""           # the session is over


@pytest.mark.parametrize("fs", ["ext2", "ext4"])
def test_2638_touch_write_after_lock(fs):
    m, mt, out = session("2.6.38", fs, MICHEL + "show hole20G\ntouch hole20G write\n")
    if fs == "ext2":
        # no ->page_mkwrite: dirty pages pile up at the limit, writeback fails with ENOSPC
        assert ("memtoy:  touch hole20G write does not return: task stuck in "
                "balance_dirty_pages (simulated)") in out
        assert mt.killed
        return
    # ext4's page_mkwrite fails to reserve a block: SIGBUS near the 10 GiB mark
    sig = re.search(r"^Signal SIGBUS @ 0x([0-9a-f]+) - non-existent physical address$",
                    out, re.M)
    assert sig, out
    start = int(re.search(r"^f 0x([0-9a-f]{16}) 0x000500000000 ", out, re.M).group(1), 16)
    stopped_at = (int(sig.group(1), 16) - start) // PAGE_SIZE
    assert stopped_at == pytest.approx(PAGES_20G // 2, rel=0.01)
    assert mt.last.pages == pytest.approx(PAGES_20G // 2, rel=0.01)
    assert mt.last.signal.signo == signal.SIGBUS
    # memtoy then prints its touched line with the length it was asked for, and lives on
    assert out.endswith(" secs\n") and "touched 5242880 pages in" in out.split("SIGBUS")[1]
    assert not mt.killed and mt.process.alive


# -- memtoy's messages -------------------------------------------------------------------------
@pytest.fixture
def small():
    m = mmsim.Machine(kernel="6.18", ram=GiB, profile="modern")
    m.mkfs("/data", fs="ext4", size=64 * MiB)
    mt = Memtoy(m)
    mt.create_sparse("/data/f", 16 * PAGE_SIZE)
    return mt


@pytest.mark.parametrize("line, message", [
    ("frobnicate", "memtoy:  unrecognized command frobnicate\n"),
    ("m", "memtoy:  ambiguous command:  m\n"),
    ("anon foo 10x", "memtoy:  segment size must be numeric value followed by optional "
                     "k, m, g or p [pages] scale factor.\n"),
    ("touch f 1q 4k", "memtoy:  segment offset must be numeric value followed by optional "
                      "k, m, g or p [pages] scale factor.\n"),
    ("touch f 0 4k sideways", "memtoy:  segment access must be 'r[ead]' or 'w[rite]'\n"),
    ("touch nosuch", "memtoy:  no such segment:  nosuch\n"),
    ("lock nosuch", "memtoy:  no such segment:  nosuch\n"),
    ("show nosuch", "memtoy:  no such segment:  nosuch\n"),
    ("lock f", "memtoy:  segment f not mapped\n"),
    ("touch f", "memtoy:  offset 0 is past end of segment f\n"),   # registered, never mapped
    ("anon f 4k", "memtoy:  segment \"f\" already exists\n"),
    ("file /data/missing", "memtoy:  can't stat /data/missing - No such file or directory\n"),
    ("anon g 4k sometimes", "memtoy:  anon seg access type must be one of:  "
                            "'private' or 'shared'\n"),
    ("pid", "memtoy:  pid = 1000\n"),
    ("numa", "memtoy:  no NUMA support on this platform\n"),
])
def test_messages(small, line, message):
    small.run_line("file /data/f shared")
    assert small.run_line(line) == message
    assert "Traceback" not in message


def test_missing_argument_prints_help(small):
    out = small.run_line("touch")
    assert out.startswith("memtoy:  command 'touch' missing required argument: <seg-name>\n\n"
                          "touch <seg-name> [<offset>[k|m|g|p] <length>[k|m|g|p]] [read|write]\n")


def test_touching_an_unmapped_segment_faults_at_map_failed(small):
    out = small.run_script("anon a 8p\nmap a\nunmap a\ntouch a\n")
    assert out.endswith("memtoy>touch a\n"
                        "Signal SIGSEGV @ 0xffffffffffffffff - address not mapped\n"
                        "memtoy:  touched 8 pages in  0.000 secs\n")


def test_show_mprotect_and_a_write_to_a_read_only_segment(small):
    out = small.run_script("file /data/f shared\nmap f\nmprotect f read\nshow f\ntouch f write\n")
    start = re.search(r"^f 0x([0-9a-f]{16}) 0x000000010000 0x000000000000  r-- shared  /data/f$",
                      out, re.M)
    assert start, out
    assert f"Signal SIGSEGV @ 0x{int(start.group(1), 16):x} - invalid access error\n" in out


def test_mlock_enomem_prints_the_rlimit():
    m = mmsim.Machine(kernel="2.6.38", ram=GiB, profile="2010")
    mt = Memtoy(m, m.spawn(memlock=(64 * 1024, 64 * 1024)))
    out = mt.run_script("anon a 1m\nmap a\nlock a\n")
    assert out.endswith("memtoy:  mlock() of segment a failed - Cannot allocate memory\n"
                        "\tNote:  lock memory rlimit = 65536 bytes\n")


def test_batch_mode_stops_at_the_first_error(small):
    small.batch = True
    out = small.run_script("pid\nfrob\npid\n")
    assert out == ("memtoy>pid\nmemtoy:  pid = 1000\nmemtoy>frob\n"
                   "memtoy:  unrecognized command frob\nmemtoy:  command error\n")
    assert small.exit_status == 4


def test_snooze_is_simulated_time(small):
    t = small.machine.now
    assert small.run_line("snooze 30") == ""
    assert small.machine.now == pytest.approx(t + 30)


@pytest.mark.parametrize("arg, value", [
    ("4096", 4096), ("4k", 4096), ("4K", 4096), ("2m", 2 * MiB), ("20g", 20 * GiB),
    ("3p", 3 * PAGE_SIZE), ("0x10", 16), ("010", 8), ("10kb", 10240),
    ("10x", BOGUS_SIZE), ("abc", BOGUS_SIZE), ("08", BOGUS_SIZE),
])
def test_size_kmgp_as_memtoy_parses(arg, value):
    assert size_kmgp(arg) == value


def test_strtoul_wraps_negative_values():
    assert strtoul("-1") == ((1 << 64) - 1, 2)


# -- the command line -------------------------------------------------------------------------
def run_cli(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "mmsim", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_cli_runs_a_script_deterministically(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text(MICHEL)
    args = ("memtoy", "--kernel", "2.6.38", "--sparse", "/data/hole20G=20g", str(script))
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith("memtoy pid:  ")
    assert "memtoy>file /data/hole20G shared\n" in first.stdout
    assert "memtoy:  touched 5242880 pages in 30.595 secs\n" in first.stdout
    assert "memtoy:  mlock of hole20G [5242880 pages] took  5.000secs.\n" in first.stdout
    assert first.stdout.endswith("memtoy EOF on stdin\n")
    assert "Traceback" not in first.stderr


def test_cli_bad_kernel_is_an_argparse_error():
    r = run_cli("memtoy", "--kernel", "9.9")
    assert r.returncode == 2
    assert "invalid choice: '9.9'" in r.stderr and "Traceback" not in r.stderr


def test_cli_without_subcommand_prints_usage():
    r = run_cli()
    assert r.returncode == 2
    assert "usage:" in r.stdout and "memtoy" in r.stdout
