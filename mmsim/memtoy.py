"""memtoy's command language over a simulated Machine.

Lee Schermerhorn's memtoy (v0.16, HP, 2005-2009) is the tool Michel
Lespinasse used on 19 Nov 2010 to show what mlock() of a shared mapping of a
20 GiB sparse file does on a partition with 10 GB free::

    memtoy>file /data/hole20G shared
    memtoy>map hole20G
    memtoy>touch hole20G
    memtoy:  touched 5242880 pages in 30.595 secs
    memtoy>lock hole20G

This module replays such sessions on an mmsim Machine, with memtoy's own
argument parsing, output lines and error messages (the memtoy 0.16 sources:
commands.c, segment.c, memtoy.c; notes/kernel-lookups.md section 8)::

    m = mmsim.Machine(kernel="2.6.38", ram=24 * GiB, profile="2010")
    m.mkfs("/data", fs="ext2", size=10 * GiB)
    mt = Memtoy(m)
    mt.create_sparse("/data/hole20G", 20 * GiB)   # dd if=/dev/zero ... seek=20480 count=0
    print(mt.run_script(\"\"\"file /data/hole20G shared
    map hole20G
    touch hole20G
    lock hole20G\"\"\"))

From the command line: ``python -m mmsim memtoy --kernel 2.6.37 --sparse
/data/hole20G=20g [script]``.

Every time memtoy prints is simulated seconds (``machine.now``), formatted
as memtoy formats its gettimeofday() differences, so a transcript is the
same to the byte on every run.

Where the simulator has to say something memtoy never would, the line says
"(simulated)":

* a command whose system call never returns (``mmsim.Hung``: mlock on
  2.6.37 throttled for ever in balance_dirty_pages once the partition is
  full) prints what the task is stuck in, then the session behaves as if
  the user had killed memtoy with ``kill -9`` from another terminal: the
  shell says "Killed", later commands say the process was killed, ``quit``
  ends the session.

Faithful to memtoy, and worth knowing when reading a transcript:

* ``touch`` that is stopped by a signal prints memtoy's ``Signal SIGBUS @
  0x... - ...`` line and then its usual ``touched N pages`` line, where N is
  the length it was asked to touch, not how far it got (segment_touch
  prints the requested length). The Signal line's address says where the
  touch stopped; ``Memtoy.last`` has the pages really touched.
* ``file`` needs the file to exist (memtoy stat()s it); create it first
  with :meth:`Memtoy.create_sparse` (or ``--sparse`` on the command line),
  as Michel did with dd.
* memtoy 0.16 has no ``mprotect`` command; KOSAKI Motohiro's later import
  of memtoy adds segment_mprotect() (mprotect of the whole segment, perror
  "segment_mprotect " on failure), and this module offers it as
  ``mprotect <seg> none|read|write`` (write meaning read and write, memtoy's
  default protection; show's spellings ``--``, ``r-``, ``-w``, ``rw`` are
  accepted too).
* In batch mode (a script file, as memtoy runs one) any command error
  prints ``memtoy:  command error`` and ends the run with exit status 4.
  In interactive mode, and in :meth:`Memtoy.run_script` unless
  ``batch=True``, errors are reported and the session goes on.
"""

from dataclasses import dataclass
import errno as _errno
import os
import posixpath
import signal as _signal
import struct

from ._abi import (MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_EXEC,
                   PROT_NONE, PROT_READ, PROT_WRITE, RLIM_INFINITY, RLIMIT_MEMLOCK)
from .errors import Hung, Signal

__all__ = ["Memtoy", "MemtoyResult", "size_kmgp", "make_sparse", "PROGRAM"]

PROGRAM = "memtoy"
PROMPT = PROGRAM + ">"
ULONG_MAX = (1 << 64) - 1
UINT_MAX = (1 << 32) - 1
BOGUS_SIZE = ULONG_MAX              # memtoy.h: ((size_t)-1)
MAP_FAILED = ULONG_MAX              # (void *)-1
KILO_SHIFT = 10
MAX_SEGMENTS = 63                   # segment.c: arbitrary max
WHITESPACE = " \t"

# memtoy.c show_siginfo: si_code strings
_SEGV_CODES = {"maperr": "address not mapped", "accerr": "invalid access error"}
_BUS_ADRERR = "non-existent physical address"
# memtoy.c sig_names for the signals it handles
_SIG_NAMES = {_signal.SIGINT: "INT", _signal.SIGQUIT: "QUIT", _signal.SIGSEGV: "SEGV",
              _signal.SIGBUS: "BUS", _signal.SIGUSR1: "USR1", _signal.SIGUSR2: "USR2"}


# -- argument conversion, as commands.c does it ------------------------------------
def strtoul(s):
    """C strtoul(s, &end, 0): return (value, index of the first unparsed char).

    Base 0: "0x" prefix is hex, a leading 0 octal, else decimal; a sign is
    accepted and a negative value wraps; overflow gives ULONG_MAX. With no
    digits at all, end is 0 (the start of s) and the value 0.
    """
    i, n = 0, len(s)
    while i < n and s[i] in " \t\n\v\f\r":
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    base = 10
    if s[i:i + 2].lower() == "0x" and i + 2 < n and s[i + 2] in "0123456789abcdefABCDEF":
        base, i = 16, i + 2
    elif i < n and s[i] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    start = i
    while i < n and s[i].lower() in digits:
        i += 1
    if i == start:
        return 0, 0
    value = int(s[start:i], base)
    if value > ULONG_MAX:
        value = ULONG_MAX
    elif neg:
        value = (-value) & ULONG_MAX
    return value, i


def size_kmgp(arg):
    """commands.c size_kmgp: a number with an optional k, m, g or p (pages) suffix.

    Return the size in bytes, or BOGUS_SIZE when a character after the
    number is not a known suffix. As in memtoy, only the first character
    after the number is looked at ("10kb" is 10 KiB).
    """
    value, end = strtoul(arg)
    if end == len(arg):
        return value
    suffix = arg[end].lower()
    if suffix == "p":
        return (value * PAGE_SIZE) & ULONG_MAX
    if suffix == "k":
        return (value << KILO_SHIFT) & ULONG_MAX
    if suffix == "m":
        return (value << 2 * KILO_SHIFT) & ULONG_MAX
    if suffix == "g":
        return (value << 3 * KILO_SHIFT) & ULONG_MAX
    return BOGUS_SIZE


def _token(args):
    """strtok_r on whitespace: (first token, rest with leading whitespace skipped)."""
    args = args.lstrip(WHITESPACE)
    for i, c in enumerate(args):
        if c in WHITESPACE:
            return args[:i], args[i + 1:].lstrip(WHITESPACE)
    return args, ""


def _secs(seconds):
    """What memtoy prints for a time: (float)(tv_diff_usec) / 1000000.0, as %6.3f."""
    usec = max(0, int(round(seconds * 1e6)))
    as_float = struct.unpack("f", struct.pack("f", float(usec)))[0]
    return "%6.3f" % (as_float / 1000000.0)


def _round_up(size):
    return (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & ULONG_MAX


def _round_down(size):
    return size & ~(PAGE_SIZE - 1)


def make_sparse(machine, path, size):
    """Create path as a sparse file of size bytes, as Michel did beforehand with
    ``dd if=/dev/zero of=/data/hole20G bs=1M seek=20480 count=0``
    (open with O_CREAT, ftruncate, close) in a short-lived process of its own.

    Raise OSError as open(2)/ftruncate(2) would (ENOENT if nothing is
    mounted there).
    """
    dd = machine.spawn()
    try:
        fd = dd.open(path, os.O_RDWR | os.O_CREAT)
        dd.ftruncate(fd, size)
        dd.close(fd)
    finally:
        dd.kill()


# -- segments --------------------------------------------------------------------------
ANON, FILE = "anon", "file"
_SEG_TYPE_CHAR = {ANON: "a", FILE: "f"}


@dataclass
class Segment:
    """segment.c struct segment: one named anon or file segment."""

    name: str
    type: str
    length: int
    offset: int
    flags: int                  # MAP_SHARED, MAP_PRIVATE or 0
    prot: int = PROT_READ | PROT_WRITE
    path: str = None
    fd: int = None
    start: int = None           # None: not mapped (MAP_FAILED)


@dataclass
class MemtoyResult:
    """What the last command did, for programs reading a session.

    ``pages`` is what touch or lock really covered (a touch stopped by a
    signal counts the pages before the faulting one), ``seconds`` the
    simulated seconds of the system call, ``signal`` the mmsim.Signal that
    stopped a touch, ``hung`` the mmsim.Hung of a call that never returned,
    ``ok`` whether memtoy would call the command a success.
    """

    command: str
    ok: bool = True
    pages: int = None
    seconds: float = None
    signal: object = None
    hung: object = None


# -- the command table (commands.c cmd_table, in memtoy's order) -----------------------
# (name, method, help, long help). Commands memtoy has but the simulator does
# not model answer "not simulated". Unique-prefix matching depends on this
# order and on every name being here, as in memtoy.
_SIMULATED_NOT = "(not simulated)"
_COMMANDS = [
    ("help", "_help",
     "help           - show help\nhelp <command> - display detailed help for <command>", ""),
    ("man", "_help", "man <command> - alias for help", ""),
    ("quit", "_quit", "quit           - just what you think.",
     "\tEOF on stdin has the same effect\n"),
    ("exit", "_quit", "exit - alias for 'quit'", ""),
    ("pid", "_pid", "pid            - show process id of this session", ""),
    ("pause", None, "pause          - pause program until signal -- e.g., INT, USR1 "
     + _SIMULATED_NOT, ""),
    ("numa", "_numa", "numa          - display numa info as seen by this program.",
     "\tshows nodes from which program may allocate memory\n"
     "\twith total and free memory.\n"),
    ("migrate", "_numa", "migrate <to-node-id[s]> [<from-node-id[s]>] - \n"
     "\tmigrate this process' memory from <from-node-id[s]>\n\tto <to-node-id[s]>.", ""),
    ("show", "_show", "show [<seg-name>]  - show info for segment[s]; default all",
     "\t1st char is \"segment type\":  a->anon, f->file, s->shmem, \n"
     "\th->hugepage shmem.\n"
     "\tIf <seg-name> == [or starts with] '+', show the segments from\n"
     "\tthe task's maps [/proc/<mypid>/maps] -- otherwise, not.\n"
     "\tNote:  the <seg-name> of a \"file\" segment is the \"basename\"\n"
     "\t       of the file's <pathname>.\n"),
    ("anon", "_anon", "anon <seg-name> <seg-size>[k|m|g|p] [<seg-share>] -\n"
     "\tdefine a MAP_ANONYMOUS segment of specified size",
     "\t<seg-name> must be unique.\n"
     "\t<seg-share> := private|shared - default = private\n"),
    ("file", "_file", "file <pathname> [<offset>[k|m|g|p] <length>[k|m|g|p]] [<seg-share>] -\n"
     "\tdefine a mapped file segment of specified length starting at the\n"
     "\tspecified offset into the file.",
     "\tUse the \"basename\" of <pathname> for <seg-name> with commands\n"
     "\tthat require one.  Therefore, the file's basename must not\n"
     "\tmatch any other segment's <seg-name>.\n"
     "\t<offset> and <length> may be omitted and specified on the\n"
     "\tmap command.\n"
     "\t<seg-share> := private|shared - default = private\n"),
    ("shmem", None, "shmem <seg-name> <seg-size>[k|m|g|p] [huge] - \n"
     "\tdefine a shared memory segment of specified size. " + _SIMULATED_NOT, ""),
    ("remove", "_remove",
     "remove <seg-name> [<seg-name> ...] - remove the named segment[s]", ""),
    ("map", "_map", "map <seg-name> [<offset>[k|m|g|p] <length>[k|m|g|p]] [<seg-share>] - \n"
     "\tmmap()/shmat() a previously defined, currently unmapped() segment.",
     "\t<offset> and <length> apply only to mapped files.\n"
     "\tUse <length> of '*' or '0' to map to the end of the file.\n"
     "\tOffset and length specified here override those specified on\n"
     "\tthe file command.\n"),
    ("unmap", "_unmap",
     "unmap <seg-name> - unmap specified segment, but remember name/size/...",
     "\tYou can't unmap segments from the task's /proc/<pid>/maps.\n"),
    ("lock", "_lock", "lock <seg-name> [<offset>[k|m|g|p] <length>[k|m|g|p]] - \n"
     "\tmlock() a [range of a] previously mapped segment.",
     "\tLock the named segment from <offset> through <offset>+<length>\n"
     "\tinto memory.  If <offset> and <length> omitted, locks all pages\n"
     "\tof mapped segment.  Locking a range of a segment causes the pages\n"
     "\tbacking the specified/implied range to be faulted into memory.\n"
     "\tNOTE:  locking is restricted by resource limits for non-privileged\n"
     "\tusers.  See 'ulimit -l' -- results in Kbytes.\n"),
    ("unlock", "_unlock", "unlock <seg-name> [<offset>[k|m|g|p] <length>[k|m|g|p]] - \n"
     "\tmunlock() a [range of] previously mapped segment.",
     "\tUnlock the named segment from <offset> through <offset>+<length>.\n"
     "\tIf <offset> and <length> omitted, unlocks all pages of the segment.\n"),
    ("mprotect", "_mprotect", "mprotect <seg-name> none|read|write - \n"
     "\tmprotect() a previously mapped segment, all of it.",
     "\tFrom KOSAKI Motohiro's later memtoy (segment_mprotect); not in 0.16.\n"
     "\t'write' means read and write, the protection segments start with;\n"
     "\tshow's spellings --, r-, -w and rw are accepted too.\n"),
    ("slock", None, "slock <shm-seg-name> - \n"
     "\tSHM_LOCK a previously mapped shmem segment into memory. " + _SIMULATED_NOT, ""),
    ("sunlock", None, "sunlock <shm-seg-name> - \n"
     "\tSHM_UNLOCK a previously SHM_LOCKed shmem segment. " + _SIMULATED_NOT, ""),
    ("touch", "_touch", "touch <seg-name> [<offset>[k|m|g|p] <length>[k|m|g|p]] [read|write]",
     "\tread [default] or write the named segment from <offset> through\n"
     "\t<offset>+<length>.  If <offset> and <length> omitted, touches all\n"
     "\t of mapped segment.\n"
     "\tYou can't write to segments from the task's /proc/<pid>/maps.\n"),
    ("mbind", "_numa", "mbind <seg-name> [<offset>[k|m|g|p] <length>[k|m|g|p]]\n"
     "      <policy>[+shared][+move[+all][+lazy]] [<node/list>] - \n"
     "\tset the numa policy for the specified range of the named segment", ""),
    ("where", "_numa", "where <seg-name> [<offset>[k|m|g|p] <length>[k|m|g|p]] - \n"
     "\tshow the node location of pages in the specified range", ""),
    ("cpus", None, "cpus [{0x<mask>|<cpu-list>}] -\tquery/change program's cpu affinity "
     "mask. " + _SIMULATED_NOT + "\n", ""),
    ("mems", None, "mems [{0x<mask>|<node-list>}] -\tquery/change program's memory "
     "affinity mask. " + _SIMULATED_NOT + "\n", ""),
    ("child", None, "child <child-name> - \tcreate a child process named <child-name>. "
     + _SIMULATED_NOT, ""),
    ("kick", None, "kick <child> [<signal>] - post <signal> to <child> " + _SIMULATED_NOT, ""),
    ("snooze", "_snooze", "snooze <seconds> - snooze [sleep] for <seconds>.\n",
     "\tSimulated: the machine's clock advances, the flusher threads run.\n"),
    ("mpol", None, "mpol [<policy> [<node/list>]] -  set/query memtoy's task mempolicy. "
     + _SIMULATED_NOT + "\n", ""),
]


class _Exit(Exception):
    """quit, or a batch-mode error: end the session with a status."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class Memtoy:
    """A memtoy session: one simulated process driven by memtoy commands.

    ``Memtoy(machine, process=None, out=None, err=None, batch=False)``.
    Without a process, one is spawned with RLIMIT_MEMLOCK unlimited, as
    Michel ran memtoy as root. Output is returned by :meth:`run_line` and
    :meth:`run_script`; if ``out`` (a file-like object) is given it is also
    written there as it is produced, and memtoy's stderr lines go to ``err``
    (default: ``out``). ``batch=True`` makes errors fatal as in memtoy's
    batch mode (``exit_status`` 4).
    """

    def __init__(self, machine, process=None, out=None, err=None, batch=False):
        self.machine = machine
        if process is None:
            process = machine.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
        self.process = process
        self.out = out
        self.err = err if err is not None else out
        self.batch = bool(batch)
        self.segments = []          # the segment table, in slot order
        self.killed = False         # kill -9'd (after a hang, or by the OOM killer)
        self.exit_status = None     # set when the session ends (quit, batch error)
        self.last = None            # MemtoyResult of the last command
        self._buf = []
        self._cmd_name = None
        # memtoy.c init_glctx: the lock limit is read once, at start-up
        try:
            soft = process.getrlimit(RLIMIT_MEMLOCK)[0]
        except OSError:
            soft = RLIM_INFINITY
        self.locked_limit = ULONG_MAX if soft == RLIM_INFINITY else soft

    def __repr__(self):
        state = "killed" if self.killed else ("ended" if self.exit_status is not None else "live")
        return f"<Memtoy pid={self.process.pid} {state} segments={len(self.segments)}>"

    # -- set-up ----------------------------------------------------------------------
    def create_sparse(self, path, size):
        """Create path as a sparse file of size bytes before the session (see make_sparse)."""
        make_sparse(self.machine, path, size)

    def banner(self):
        """What memtoy prints when it starts: ``memtoy pid:  <pid>``."""
        return self._capture(lambda: self._print(f"{PROGRAM} pid:  {self.process.pid}"))

    # -- running ------------------------------------------------------------------------
    def run_line(self, line):
        """Run one command line as memtoy's command loop does; return what it printed.

        Blank lines and ``#`` comments do nothing. After the session ended
        (quit, or a batch error) nothing runs and "" is returned.
        """
        if self.exit_status is not None:
            return ""
        return self._capture(lambda: self._run(line))

    def run_script(self, text):
        """Run each line of text, echoing ``memtoy>command`` before its output as a
        terminal shows it; return the whole transcript.

        Stops at ``quit``, and in batch mode at the first error or when the
        process is killed.
        """
        out = []
        for line in text.splitlines():
            if self.exit_status is not None:
                break
            cmd = line.strip(WHITESPACE + "\r\n")
            if not cmd or cmd.startswith("#"):
                continue
            out.append(self._capture(lambda: self._print(PROMPT + cmd)))
            out.append(self.run_line(cmd))
        return "".join(out)

    # -- output ----------------------------------------------------------------------------
    def _capture(self, fn):
        saved, self._buf = self._buf, []
        try:
            fn()
            return "".join(self._buf)
        finally:
            self._buf = saved

    def _print(self, text="", err=False):
        s = text + "\n"
        self._buf.append(s)
        stream = self.err if err else self.out
        if stream is not None:
            other = self.out if err else self.err
            if other is not None and other is not stream:
                other.flush()
            stream.write(s)
            stream.flush()

    def _eprint(self, text=""):
        self._print(text, err=True)

    def _perror(self, what, exc):
        self._eprint(f"{what} - {os.strerror(exc.errno) if exc.errno else exc}")

    # -- the command loop ------------------------------------------------------------------
    def _run(self, line):
        cmdline = line.strip(WHITESPACE + "\r\n")
        if not cmdline or cmdline.startswith("#"):
            return
        self.last = MemtoyResult(cmdline)
        cmd, _ = _token(cmdline)
        if self.killed and not "quit".startswith(cmd) and not "exit".startswith(cmd):
            self._eprint(f"{PROGRAM}:  process {self.process.pid} was killed (kill -9): "
                         f"'{cmdline}' not run; only 'quit' is left (simulated)")
            self.last.ok = False
            return
        t0 = self.machine.now
        try:
            ok = self._parse_command(cmdline)
        except _Exit as e:
            self.exit_status = e.status
            return
        except Hung as h:
            self._hung(cmdline, h, t0)
            ok = False
        except Signal as s:
            ok = self._signal_outside_touch(s)
        except OSError as e:          # a call memtoy does not check; should not happen
            self._eprint(f"{PROGRAM}:  {cmdline} - {os.strerror(e.errno) if e.errno else e}")
            ok = False
        self.last.ok = bool(ok)
        if not ok and self.batch and self.exit_status is None:
            if self.killed:
                self.exit_status = 128 + _signal.SIGKILL
            else:
                self._eprint(f"{PROGRAM}:  command error")
                self.exit_status = 4

    def _parse_command(self, cmdline):
        """commands.c parse_command: unique-prefix match against the command table."""
        cmd, args = _token(cmdline)
        for i, (name, method, _, _) in enumerate(_COMMANDS):
            if not name.startswith(cmd):
                continue
            if any(later[0].startswith(cmd) for later in _COMMANDS[i + 1:]):
                self._eprint(f"{PROGRAM}:  ambiguous command:  {cmd}")
                return False
            self._cmd_name = name
            try:
                if method is None:
                    self._eprint(f"{PROGRAM}:  {name} is not simulated (mmsim)")
                    return False
                return getattr(self, method)(args)
            finally:
                self._cmd_name = None
        self._eprint(f"{PROGRAM}:  unrecognized command {cmd}")
        return False

    # -- what the simulator adds -----------------------------------------------------------
    def _hung(self, cmdline, h, t0):
        """The call never returns: say so, then kill -9 the process."""
        m, pid = self.machine, self.process.pid
        into = m.now - t0
        self.last.hung = h
        self.last.seconds = into
        self._print(f"{PROGRAM}:  {cmdline} does not return: task stuck in {h.function} "
                    f"(simulated)")
        self._print(f"{PROGRAM}:    {into:.3f} secs into the call, no progress for the last "
                    f"{h.after:.3f} secs")
        if h.state:
            self._print(f"{PROGRAM}:    " + " ".join(_format_state(h.state)))
        self._print(f"{PROGRAM}:  kill -9 {pid} from another terminal (simulated)")
        try:
            self.process.kill()
        except OSError:
            pass
        self.killed = True
        self._print("Killed")

    def _oom_killed(self):
        self.killed = True
        if self.process.alive:
            try:
                self.process.kill()
            except OSError:
                pass
        self._print("Killed")

    def _signal_outside_touch(self, s):
        if s.signo == _signal.SIGKILL:
            self.last.signal = s
            self._oom_killed()
            return False
        self._show_siginfo(s)
        return False

    def _show_siginfo(self, s):
        """memtoy.c show_siginfo: ``Signal SIG<name> @ 0x<addr> - <si_code text>``."""
        if s.signo == _signal.SIGSEGV:
            vma = self.process.mm.find_vma(s.addr) if self.process.alive else None
            mapped = vma is not None and vma.start <= s.addr
            code = _SEGV_CODES["accerr" if mapped else "maperr"]
        elif s.signo == _signal.SIGBUS:
            code = _BUS_ADRERR
        else:
            return
        self._print(f"Signal SIG{_SIG_NAMES.get(s.signo, 'unknown')} @ 0x{s.addr:x} - {code}")

    # -- argument helpers (commands.c) -------------------------------------------------------
    def _required(self, args, what):
        if args:
            return True
        self._eprint(f"{PROGRAM}:  command '{self._cmd_name}' missing required argument: "
                     f"{what}\n")
        self._help(self._cmd_name)
        return False

    def _scaled(self, arg, what):
        size = size_kmgp(arg)
        if size == BOGUS_SIZE:
            self._eprint(f"{PROGRAM}:  segment {what} must be numeric value followed by "
                         f"optional k, m, g or p [pages] scale factor.")
        return size

    def _range(self, args):
        """get_range: optional <offset> <length> (length '*' = to end). Return
        (ok, offset, length, rest, given)."""
        if not args or not args[0].isdigit():
            return True, 0, 0, args, False
        tok, rest = _token(args)
        offset = self._scaled(tok, "offset")
        if offset == BOGUS_SIZE:
            return False, 0, 0, rest, True
        if not rest:
            self._eprint(f"{PROGRAM}:  expected <length> after <offset>")
            return False, 0, 0, rest, True
        tok, rest = _token(rest)
        if tok.startswith("*"):
            length = 0
        else:
            length = self._scaled(tok, "length")
            if length == BOGUS_SIZE:
                return False, 0, 0, rest, True
        return True, offset, length, rest, True

    def _shared(self, args):
        """get_shared: a prefix of 'shared' or 'private' (the rest of the line)."""
        if "shared".startswith(args.lower()):
            return MAP_SHARED
        if "private".startswith(args.lower()):
            return MAP_PRIVATE
        self._eprint(f"{PROGRAM}:  anon seg access type must be one of:  "
                     f"'private' or 'shared'")
        return -1

    def _get(self, name):
        for seg in self.segments:
            if seg.name == name:
                return seg
        return None

    def _get_or_complain(self, name):
        seg = self._get(name)
        if seg is None:
            self._eprint(f"{PROGRAM}:  no such segment:  {name}")
        return seg

    def _span(self, seg, offset, length):
        """The (offset, length) a range command works on, or None: offset past the end."""
        offset = _round_down(offset)
        if offset >= seg.length:
            self._eprint(f"{PROGRAM}:  offset {offset} is past end of segment {seg.name}")
            return None
        maxlength = seg.length - offset
        if length:
            length = _round_up(length)
        if length == 0 or length > maxlength:
            length = maxlength
        return offset, length

    # -- commands ---------------------------------------------------------------------------
    def _help(self, args):
        """help_me: every command's help, or the long help of those matching a prefix."""
        cmd, _ = _token(args)
        match = False
        for name, _, text, long_text in _COMMANDS:
            if not cmd or name.startswith(cmd):
                match = True
                self._eprint(text)
                self._eprint(long_text if cmd else "")
        if not match:
            self._eprint(f"unrecognized command:  {cmd}")
            self._eprint("\tuse 'help' for a complete list of commands")
            return False
        if not cmd:
            self._eprint("for help on a specific command, type \"help <command>\"")
        return True

    def _quit(self, args):
        raise _Exit(0)

    def _pid(self, args):
        self._print(f"{PROGRAM}:  pid = {self.process.pid}")
        return True

    def _numa(self, args):
        # commands.c numa_supported(): the simulated machine has one node
        self._eprint(f"{PROGRAM}:  no NUMA support on this platform")
        return False

    def _snooze(self, args):
        if not self._required(args, "<seconds>"):
            return False
        seconds, _ = strtoul(args)
        if seconds > UINT_MAX:
            return False
        self.machine.sleep(seconds)
        return True

    def _show(self, args):
        """segment_show: one segment without header, or all of them after the header."""
        name, _ = _token(args)
        if name and not name.startswith("+"):
            seg = self._get_or_complain(name)
            if seg is None:
                return False
            self._show_one(seg, False)
            return True
        header = True
        for seg in self.segments:
            self._show_one(seg, header)
            header = False
        return True

    def _show_one(self, seg, header):
        prot = {PROT_READ | PROT_WRITE: "rw", PROT_READ: "r-",
                PROT_WRITE: "-w"}.get(seg.prot & (PROT_READ | PROT_WRITE), "--")
        exe = "x" if seg.prot & PROT_EXEC else "-"
        if seg.flags:
            share = "shared " if seg.flags & MAP_SHARED else "private"
        else:
            share = "default"
        name = seg.path if seg.type == FILE else seg.name
        kind = _SEG_TYPE_CHAR[seg.type]
        if header:
            self._print("\n  _____address______ ____length____ ____offset____ prot  share  name")
        if seg.start is not None:
            self._print(f"{kind} 0x{seg.start:016x} 0x{seg.length:012x} 0x{seg.offset:012x}  "
                        f"{prot}{exe} {share} {name}")
        else:
            self._print(f"{kind} *** not-mapped *** 0x{seg.length:012x} 0x{seg.offset:012x}  "
                        f"{prot}  {share} {name}")

    def _register(self, seg):
        """segment_register: unique names, at most MAX_SEGMENTS."""
        old = self._get(seg.name)
        if old is not None:
            self._eprint(f"{PROGRAM}:  segment \"{old.name}\" already exists")
            return False
        if len(self.segments) >= MAX_SEGMENTS:
            self._eprint(f"{PROGRAM}:  segment table full")
            return False
        if seg.type == FILE and not self._open_file(seg):
            return False
        self.segments.append(seg)
        return True

    def _open_file(self, seg):
        """segment.c open_file: stat, then open read-write (the simulated files
        have no permissions to narrow it)."""
        try:
            self.machine.stat(seg.path)
        except OSError as e:
            self._eprint(f"{PROGRAM}:  can't stat {seg.path} - {os.strerror(e.errno)}")
            return False
        try:
            seg.fd = self.process.open(seg.path, os.O_RDWR)
        except OSError as e:
            self._eprint(f"{PROGRAM}:  can't open {seg.path} - {os.strerror(e.errno)}")
            return False
        return True

    def _anon(self, args):
        if not self._required(args, "<seg-name>"):
            return False
        name, args = _token(args)
        if not self._required(args, "<size>"):
            return False
        tok, args = _token(args)
        size = self._scaled(tok, "size")
        if size == BOGUS_SIZE:
            return False
        flags = MAP_PRIVATE
        if args:
            flags = self._shared(args)
            if flags == -1:
                return False
        return self._register(Segment(name, ANON, size, 0, flags))

    def _file(self, args):
        if not self._required(args, "<path-name>"):
            return False
        path, args = _token(args)
        ok, offset, length, args, _ = self._range(args)
        if not ok:
            return False
        flags = MAP_PRIVATE
        if args:
            flags = self._shared(args)
            if flags == -1:
                return False
        return self._register(Segment(posixpath.basename(path), FILE, length, offset, flags,
                                      path=path))

    def _remove(self, args):
        if not self._required(args, "<seg-name>"):
            return False
        while args:
            name, args = _token(args)
            seg = self._get_or_complain(name)
            if seg is None:
                return False
            self._unmap_segment(seg)
            if seg.fd is not None:
                try:
                    self.process.close(seg.fd)
                except OSError:
                    pass
            self.segments.remove(seg)
        return True

    def _unmap(self, args):
        if not self._required(args, "<seg-name>"):
            return False
        name, _ = _token(args)
        seg = self._get_or_complain(name)
        if seg is None:
            return False
        self._unmap_segment(seg)
        return True

    def _unmap_segment(self, seg):
        if seg.start is None:
            return
        try:
            self.process.munmap(seg.start, seg.length)     # memtoy ignores the result
        except OSError:
            pass
        seg.start = None

    def _map(self, args):
        if not self._required(args, "<seg-name>"):
            return False
        name, args = _token(args)
        ok, offset, length, args, given = self._range(args)
        if not ok:
            return False
        flags = 0
        if args:
            flags = self._shared(args)
            if flags == -1:
                return False
        seg = self._get_or_complain(name)
        if seg is None:
            return False
        if seg.start is not None:
            self._eprint(f"{PROGRAM}:  segment {name} already mapped")
            return True
        if flags:
            seg.flags = flags
        if seg.type == ANON:
            return self._map_anon(seg)
        if given:
            seg.offset, seg.length = offset, length
        return self._map_file(seg)

    def _map_anon(self, seg):
        seg.length = _round_up(seg.length)
        seg.offset = _round_down(seg.offset)
        try:
            seg.start = self.process.mmap(0, seg.length, seg.prot,
                                          (seg.flags or MAP_PRIVATE) | MAP_ANONYMOUS)
        except OSError as e:
            self._perror("map_anon_segment:  anonymous mmap failed", e)
            return False
        return True

    def _map_file(self, seg):
        seg.length = _round_up(seg.length)
        seg.offset = _round_down(seg.offset)
        size = self.machine.stat(seg.path).st_size
        if seg.offset > size:
            self._eprint(f"{PROGRAM}: offset 0x{seg.offset:x} beyond end of file {seg.path}")
            return False
        if seg.length == 0:
            seg.length = _round_up(size) - seg.offset
        try:
            seg.start = self.process.mmap(0, seg.length, seg.prot, seg.flags or MAP_PRIVATE,
                                          seg.fd, seg.offset)
        except OSError as e:
            self._perror(f"map_file_segment:  mmap of {seg.path} failed", e)
            return False
        return True

    def _touch(self, args):
        if not self._required(args, "<seg-name>"):
            return False
        name, args = _token(args)
        ok, offset, length, args, _ = self._range(args)
        if not ok:
            return False
        write = args[:1].lower() == "w"
        if args and not write and args[:1].lower() != "r":
            self._eprint(f"{PROGRAM}:  segment access must be 'r[ead]' or 'w[rite]'")
            return False
        seg = self._get_or_complain(name)
        if seg is None:
            return False
        span = self._span(seg, offset, length)
        if span is None:
            return False
        offset, length = span
        m = self.machine
        t0 = m.now
        if seg.start is None:
            # segment_touch does not check the mapping: it touches MAP_FAILED + offset
            addr = (MAP_FAILED + offset) & ULONG_MAX
            sig = Signal(_signal.SIGSEGV, addr, "bad_area")
            self._show_siginfo(sig)
            done = 0
        else:
            sig = None
            try:
                done = self.process.touch(seg.start + offset, length, write=write).pages
            except Signal as s:
                sig, done = s, getattr(s, "pages", 0)
                if s.signo == _signal.SIGKILL:
                    self.last.signal = s
                    self._oom_killed()
                    return False
                self._show_siginfo(s)
        seconds = m.now - t0
        self.last.pages, self.last.seconds, self.last.signal = done, seconds, sig
        self._print(f"{PROGRAM}:  touched {length // PAGE_SIZE} pages in {_secs(seconds)} secs")
        return True

    def _lock(self, args):
        return self._lock_unlock(args, True)

    def _unlock(self, args):
        return self._lock_unlock(args, False)

    def _lock_unlock(self, args, lock):
        if not self._required(args, "<seg-name>"):
            return False
        name, args = _token(args)
        ok, offset, length, args, _ = self._range(args)
        if not ok:
            return False
        seg = self._get_or_complain(name)
        if seg is None:
            return False
        if seg.start is None:
            self._eprint(f"{PROGRAM}:  segment {name} not mapped")
            return False
        span = self._span(seg, offset, length)
        if span is None:
            return False
        offset, length = span
        operation = "mlock" if lock else "munlock"
        m = self.machine
        t0 = m.now
        try:
            if lock:
                self.process.mlock(seg.start + offset, length)
            else:
                self.process.munlock(seg.start + offset, length)
        except OSError as e:
            self._eprint(f"{PROGRAM}:  {operation}() of segment {name} failed - "
                         f"{os.strerror(e.errno)}")
            if e.errno == _errno.ENOMEM:
                self._eprint(f"\tNote:  lock memory rlimit = {self.locked_limit} bytes")
            return False
        seconds = m.now - t0
        self.last.pages, self.last.seconds = length // PAGE_SIZE, seconds
        if lock:
            self._print(f"{PROGRAM}:  {operation} of {seg.name} [{length // PAGE_SIZE} pages] "
                        f"took {_secs(seconds)}secs.")
        return True

    _PROTS = {"none": PROT_NONE, "read": PROT_READ, "write": PROT_READ | PROT_WRITE,
              "--": PROT_NONE, "r-": PROT_READ, "-w": PROT_WRITE, "rw": PROT_READ | PROT_WRITE}

    def _mprotect(self, args):
        if not self._required(args, "<seg-name>"):
            return False
        name, args = _token(args)
        if not self._required(args, "none|read|write"):
            return False
        word, _ = _token(args)
        prot = self._PROTS.get(word.lower())
        if prot is None:
            prot = next((v for k, v in self._PROTS.items()
                         if k.isalpha() and k.startswith(word.lower())), None)
        if prot is None:
            self._eprint(f"{PROGRAM}:  segment protection must be one of:  "
                         f"'none', 'read' or 'write'")
            return False
        seg = self._get_or_complain(name)
        if seg is None:
            return False
        start = MAP_FAILED if seg.start is None else seg.start
        try:
            self.process.mprotect(start, seg.length, prot)
        except OSError as e:
            self._eprint(f"segment_mprotect : {os.strerror(e.errno)}")    # perror()
            return False
        seg.prot = prot
        return True


def _format_state(state):
    """Hung.state as ``key=value`` words; a dict value becomes ``key[k]=v`` per item."""
    words = []
    for key, value in state.items():
        if isinstance(value, dict):
            words += [f"{key}[{k}]={v}" for k, v in value.items()]
        else:
            words.append(f"{key}={value}")
    return words
