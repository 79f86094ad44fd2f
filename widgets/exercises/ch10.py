"""Chapter 10's exercises: predict what your own kernel will answer.

The answers come from the simulator (mmsim.testbed.lab), never from the
host, so that every seed can be graded anywhere; the lab's comparisons
then show whether the reader's kernel agrees.
"""

from mmsim.testbed.lab import CALLS, KINDS, LAB, dirty_after, expectations, second_mlock

from . import Exercise
from .forms import Words, kilobytes, plural

# the answer words: "must agree", or the name of the reason a field may differ
WORD = {"MADV_POPULATE_WRITE (5.14)": "MADV_POPULATE_WRITE"}
RULES = ("must agree", "fault counting", "fault-around", "MADV_POPULATE_WRITE")


_CALL_TEXT = {"mlock": "mlock", "MADV_POPULATE_WRITE, then mlock":
              "madvise(MADV_POPULATE_WRITE) and then mlock",
              "mlock2(MLOCK_ONFAULT)": "mlock2(MLOCK_ONFAULT)"}


def _dirty_make(rng):
    return {"kind": rng.choice(KINDS), "call": rng.choice(CALLS), "pages": rng.choice([16, 32, 64, 100])}


def _dirty_ask(q):
    return (f"On your 6.18 kernel, a fresh sparse file of {plural(q['pages'], 'page')} on ext4 is "
            f"mapped {q['kind']} and writable (MAP_{q['kind'].upper()}, PROT_READ | PROT_WRITE); "
            f"then the process calls {_CALL_TEXT[q['call']]} over the whole mapping and stores nothing. How much "
            f"does smaps report dirty (Shared_Dirty + Private_Dirty)?")


def _field_make(rng):
    name = rng.choice(list(LAB))
    rows = expectations(name)
    rows = [r for r in rows if not r[2].startswith("n/a")]
    differ = [r for r in rows if r[2] != "must agree"]
    pool = differ if differ and rng.random() < 0.5 else rows
    field, value, _rule = rng.choice(pool)
    return {"name": name, "field": field, "value": value}


def _field_ask(q):
    kernel = LAB[q["name"]][1]
    return (f"In the lab's comparison {q['name']} (your kernel against mmsim {kernel}), the "
            f"simulator's {q['field']} is {q['value']}. May your kernel print another value, and "
            f"by which rule of the comparison?")


def _field_solve(q):
    rule = dict((f, r) for f, _v, r in expectations(q["name"]))[q["field"]]
    if rule == "must agree":
        return rule
    reason = rule[len("may differ: "):]
    return WORD.get(reason, reason)


def _limit_make(rng):
    limit = rng.choice([0, 16, 64])
    first = rng.choice([0, 4, 8, 16])
    return {"limit_kb": limit, "cap": rng.random() < 0.25, "first": first,
            "total": first + rng.choice([4, 8, 12])}


def _limit_ask(q):
    who = "with CAP_IPC_LOCK" if q["cap"] else "without CAP_IPC_LOCK"
    before = (f"mlock(a, {plural(q['first'], 'page')}), then " if q["first"] else "")
    limit = f"{q['limit_kb']} KiB" if q["limit_kb"] else "0"
    return (f"On your 6.18 kernel, a process {who} and RLIMIT_MEMLOCK {limit} (soft "
            f"and hard) maps 64 private anonymous pages at a and calls {before}mlock(a, "
            f"{plural(q['total'], 'page')}). What does that last mlock return?")


EXERCISES = [
    Exercise(
        "10", 1, "Dirty after the lock, on your kernel", _dirty_make, _dirty_ask,
        lambda q: dirty_after(q["kind"], q["call"], q["pages"])[0], kilobytes(),
        "Since 2.6.38 mlock write-faults only a private writable mapping (to break COW); "
        "MADV_POPULATE_WRITE write-faults any writable mapping on purpose; MLOCK_ONFAULT "
        "faults nothing in. A page is 4 kB."),
    Exercise(
        "10", 2, "Which field may differ, and why", _field_make, _field_ask, _field_solve,
        Words(RULES, "the rule"),
        "Fault counts never have to agree (fault-around, retried faults, the interpreter's own "
        "faults); a load from a cached file maps up to 16 pages on 6.18 (fault-around); against "
        "2.6.37, the old kernel has no MADV_POPULATE_WRITE. Every other field must agree."),
    Exercise(
        "10", 3, "The memlock limit, on your kernel", _limit_make, _limit_ask,
        lambda q: second_mlock(q["limit_kb"], q["cap"], q["first"], q["total"]),
        Words(("ok", "ENOMEM", "EPERM"), "the result"),
        "CAP_IPC_LOCK skips every check. Without it, a limit of 0 is EPERM; otherwise the pages "
        "of the range that are not locked yet plus those locked already must fit under the limit "
        "(4 pages per 16 KiB; since 4.9 pages already locked are not counted twice)."),
]
