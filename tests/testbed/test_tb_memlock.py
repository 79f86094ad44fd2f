"""mmsim.testbed.memlock: chapter 08's errno cases, what a failed call leaves, and the DoS."""

import errno

import pytest

from mmsim import KiB, MAP_LOCKED, MCL_CURRENT, MiB, PAGE_SIZE, RLIM_INFINITY
from mmsim.testbed.memlock import (CASES, CRYPTO, KERNELS, PRESETS, call_text, claims_rows,
                                   dos_rows, dos_run, dos_summary, errno_rows, limit_text,
                                   oom_rows, outcome, reread_seconds, run_case)

# What chapter 08 section 2 says each case returns, per kernel (2.6.37, 2.6.38, 6.18).
EXPECTED = {
    ("mlock", "limit 0"): ("EPERM",) * 3,
    ("mlock", "limit 0, unmapped address"): ("EPERM",) * 3,
    ("mlock", "over the limit"): ("ENOMEM",) * 3,
    ("mlock", "locked pages counted twice?"): ("ENOMEM", "ENOMEM", "ok"),
    ("mlock", "a hole in the range"): ("ENOMEM",) * 3,
    ("mlock2", "exists? (Linux 4.4)"): ("ENOSYS", "ENOSYS", "ok"),
    ("mlock2", "unknown flag, limit 0"): ("ENOSYS", "ENOSYS", "EINVAL"),
    ("mlock2", "limit 0"): ("ENOSYS", "ENOSYS", "EPERM"),
    ("mlock2", "over the limit"): ("ENOSYS", "ENOSYS", "ENOMEM"),
    ("mlockall", "no flag, limit 0"): ("EINVAL",) * 3,
    ("mlockall", "MCL_ONFAULT alone"): ("EINVAL",) * 3,
    ("mlockall", "limit 0"): ("EPERM",) * 3,
    ("mlockall", "MCL_CURRENT over the limit"): ("ENOMEM",) * 3,
    ("mlockall", "MCL_FUTURE, mmap over it"): ("EAGAIN",) * 3,
    ("mmap", "MAP_LOCKED, limit 0"): ("EPERM",) * 3,
    ("mmap", "MAP_LOCKED over the limit"): ("EAGAIN",) * 3,
    ("any", "CAP_IPC_LOCK, limit 0"): ("ok",) * 3,
}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.syscall}: {c.check}" for c in CASES])
def test_each_case_returns_the_kernels_errno(case):
    got = tuple(run_case(k, case.limit, case.calls, case.caps)["result"] for k in KERNELS)
    assert got == EXPECTED[case.syscall, case.check]
    assert len(EXPECTED) == len(CASES)


def test_the_errno_table_has_a_row_per_case_and_vmlck_after_it():
    rows = errno_rows()
    assert len(rows) == len(CASES) and all(len(r) == 4 + len(KERNELS) for r in rows)
    twice = next(r for r in rows if r[1] == "locked pages counted twice?")
    assert twice[4:] == ("ENOMEM, 32", "ENOMEM, 32", "ok, 64")
    assert next(r for r in rows if r[1] == "CAP_IPC_LOCK, limit 0")[4:] == ("ok, 256",) * 3


def test_a_hole_leaves_the_vmas_before_it_locked():
    calls = (("munmap", 8, 1), ("mlock", 0, 16))
    for k in KERNELS:
        r = run_case(k, 16 * PAGE_SIZE, calls)
        before, after = r["vmas"]
        assert r["result"] == "ENOMEM" and r["VmLck"] == 32 and r["ran"] == 2
        assert (before["start_page"], before["Size"], after["start_page"]) == (0, 32, 9)
        # 2.6.37 faults in inside mlock_fixup; later kernels populate after the walk succeeded
        assert before["Rss"] == (32 if k == "2.6.37" else 0)
        assert before["Locked"] == (None if k == "2.6.37" else 0)
        assert after["Rss"] == 0


def test_since_4_9_locked_pages_are_not_counted_twice():
    calls = (("mlock", 0, 8), ("mlock", 4, 12))              # 4 of the 12 already locked
    assert [run_case(k, 16 * PAGE_SIZE, calls)["VmLck"] for k in KERNELS] == [32, 32, 64]


def test_cap_ipc_lock_ignores_a_zero_limit():
    calls = (("mlock", 0, 32), ("mlockall", MCL_CURRENT), ("mmap", 32, MAP_LOCKED))
    for k in KERNELS:
        assert run_case(k, 0, calls)["result"] == "EPERM"
        r = run_case(k, 0, calls, {"CAP_IPC_LOCK"})
        assert (r["result"], r["ran"], r["VmLck"]) == ("ok", 3, 256)


def test_the_16k_of_the_thread_is_four_pages():
    r = run_case("2.6.37", CRYPTO.limit, CRYPTO.calls)
    assert (r["result"], r["VmLck"], 16 * KiB // PAGE_SIZE) == ("ENOMEM", 16, 4)


def test_malformed_calls_are_refused_with_einval():
    for bad in ((), (("mlock", 0),), (("fork",),), (("mlock", -1, 2),), (("mmap", 1.5, 0),)):
        with pytest.raises(OSError) as e:
            run_case("6.18", 0, bad)
        assert e.value.errno == errno.EINVAL


def test_calls_and_limits_print_as_the_chapter_writes_them():
    assert call_text(("mlock", 8, 1)) == "mlock(a + 8 pages, 1 page)"
    assert call_text(("mlock2", 0, 2, 3)) == "mlock2(a, 2 pages, MLOCK_ONFAULT|0x2)"
    assert call_text(("mlockall", 3)) == "mlockall(MCL_CURRENT|MCL_FUTURE)"
    assert call_text(("mmap", 4, 0)) == "mmap(4 pages)"
    assert [limit_text(v) for v, _ in PRESETS.values()] == list(PRESETS)
    assert (limit_text(0), limit_text(5000), limit_text(RLIM_INFINITY)) == ("0", "5000 B", "unlimited")


def test_outcome_names_the_errno_or_says_ok():
    def fail(code):
        raise OSError(code, "x")
    assert outcome(fail, errno.EAGAIN) == "EAGAIN" and outcome(abs, -1) == "ok"


# -- the DoS -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs():
    return {label: dos_run("2.6.37", limit) for label, (limit, _) in PRESETS.items()}


def test_a_finite_limit_keeps_the_victims_file_in_memory(runs):
    for label in ("16 KiB", "64 KiB", "8 MiB"):
        r = runs[label]
        assert r.lock_errors == ["ENOMEM"] and r.locked == PRESETS[label][0]
        assert [p["majflt"] for p in r.passes] == [512 * MiB // PAGE_SIZE // 32] + [0] * 5
        assert reread_seconds(r) == 0.0


def test_an_unlimited_limit_evicts_the_victim(runs):
    r = runs["unlimited"]
    assert r.lock_errors == [""] and r.locked == 768 * MiB and not r.oom_kills
    before = [p for p in r.passes if p["t"] < r.lock_at]
    after = [p for p in r.passes if p["t"] >= r.lock_at]
    assert len(before) == 2 and len(after) == 4
    assert before[1]["seconds"] == 0.0 and all(p["majflt"] > 0 for p in after)
    assert reread_seconds(r) > 2.0
    last = r.timeline[-1]
    b = last["procs"][r.victim]
    locked = sum(v["locked_kb"] for pid, v in last["procs"].items() if r.owners[pid] == "A")
    assert locked == 768 * 1024 and b["rss_kb"] <= 256 * 1024 and last["free_kb"] == 0


def test_the_rows_and_claims_carry_the_runs_numbers(runs):
    rows = {row[0]: row for row in dos_rows(runs)}
    assert rows["unlimited"][1:3] == ("ok", "768 MiB") and rows["16 KiB"][2] == "16 KiB"
    assert rows["unlimited"][4].split()[0] == f"{reread_seconds(runs['unlimited']):.3f}"
    claims = claims_rows(runs)
    assert len(claims) == 5 and all(who.startswith("Ted, 19 Nov") for who, _, _ in claims)
    assert "a 5th page ENOMEM" in claims[0][2] and "768 MiB" in claims[2][2]
    assert dos_summary(runs["unlimited"]).endswith(
        f"B's next pass {reread_seconds(runs['unlimited']):.3f} s simulated")


def test_the_oom_killer_takes_the_largest_process():
    def run(lockers):
        return dos_run("2.6.37", RLIM_INFINITY, 768 * MiB, lockers=lockers, file_size=64 * MiB,
                       heap=320 * MiB, passes=2, lock_before=1)
    alone, four = run(1), run(4)
    assert alone.killed == ["A"] and alone.lock_errors == ["SIGKILL"] and alone.locked == 0
    assert alone.victim_killed_at is None and len(alone.passes) == 2
    assert four.killed == ["B"] and four.locked == 768 * MiB
    assert four.victim_killed_at == four.oom_kills[0][0] and len(four.passes) == 1
    assert "killed B" in dos_summary(four)
    assert [row[4] for row in oom_rows({1: alone, 4: four})] == ["alive", "killed"]


def test_the_limit_is_per_process():
    r = dos_run("6.18", 8 * MiB, 64 * MiB, lockers=4, file_size=64 * MiB, passes=1,
                lock_before=1)
    assert r.locked == 4 * 8 * MiB and r.lock_errors == ["ENOMEM"] * 4


def test_dos_run_refuses_bad_arguments():
    for kwargs in ({"lockers": 0}, {"lock": -1}, {"lock_before": 7}):
        with pytest.raises(OSError) as e:
            dos_run(**kwargs)
        assert e.value.errno == errno.EINVAL
