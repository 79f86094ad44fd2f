"""``python -m mmsim``: command-line tools over the simulator.

    python -m mmsim memtoy [options] [script]

runs Lee Schermerhorn's memtoy command language (mmsim.memtoy) on a
simulated machine: interactively with the ``memtoy>`` prompt when standard
input is a terminal, else in batch mode from the script file (or from
standard input), echoing each command as ``memtoy>command`` before its
output. Exit status as memtoy's: 0, or 4 after a command error in batch
mode; 137 (128 + SIGKILL, as a shell reports it) if the simulated process
had to be killed because a call never returned.
"""

import argparse
import re
import sys

from ._abi import GiB, PAGE_SIZE, RLIM_INFINITY
from .fs import ALL_FILESYSTEMS
from .kernels import KERNELS
from .machine import Machine
from .memtoy import PROGRAM, PROMPT, Memtoy, make_sparse
from .profiles import PROFILES

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": PAGE_SIZE}


def parse_size(text):
    """A size for an option: a number with an optional k, m, g, t or p (pages)
    suffix, case-insensitive, binary units ("10g" is 10 GiB; "iB"/"B" may follow)."""
    mt = re.fullmatch(r"\s*(\d+)\s*([kmgtp]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not mt or (mt.group(2) == "" and re.search(r"[a-z]", str(text), re.IGNORECASE)):
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: a number with an optional k, m, g, t or p [pages] suffix")
    return int(mt.group(1)) * _UNITS[mt.group(2).lower()]


def parse_memlock(text):
    """--memlock: 'unlimited' or a size."""
    if str(text).strip().lower() in ("unlimited", "infinity"):
        return RLIM_INFINITY
    try:
        return parse_size(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"invalid limit {text!r}: 'unlimited' or a size such as 64k") from None


def parse_sparse(text):
    """--sparse PATH=SIZE."""
    path, sep, size = str(text).rpartition("=")
    if not sep or not path.startswith("/"):
        raise argparse.ArgumentTypeError(
            f"invalid sparse file {text!r}: expected an absolute PATH=SIZE, e.g. /data/hole20G=20g")
    return path, parse_size(size)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m mmsim",
        description="Tools over mmsim, the simulator of the Linux kernel parts behind the "
                    "Nov 2010 thread 'mlock: avoid dirtying pages and triggering writeback'.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mt = sub.add_parser(
        "memtoy",
        help="run memtoy's command language on a simulated machine",
        description="Lee Schermerhorn's memtoy (0.16) over a simulated machine, as Michel "
                    "Lespinasse ran it on 19 Nov 2010. A filesystem of --partition bytes is "
                    "mounted at /data. All times printed are simulated seconds.",
        epilog="Michel's session: python -m mmsim memtoy --kernel 2.6.37 "
               "--sparse /data/hole20G=20g, then: file /data/hole20G shared; map hole20G; "
               "touch hole20G; lock hole20G. Sizes take k, m, g, t or p (pages) suffixes.")
    mt.add_argument("script", nargs="?",
                    help="a file of memtoy commands (batch mode: an error ends the run "
                         "with status 4); without it, standard input")
    mt.add_argument("--kernel", choices=list(KERNELS), default="6.18",
                    help="simulated kernel version: 2.6.37 (before the patch), 2.6.38 "
                         "(after it), 6.18 (today); default %(default)s")
    mt.add_argument("--fs", choices=list(ALL_FILESYSTEMS), default="ext2",
                    help="filesystem type of /data (default %(default)s, as Michel's)")
    mt.add_argument("--partition", type=parse_size, default=10 * GiB, metavar="SIZE",
                    help="size of the filesystem mounted at /data (default 10g)")
    mt.add_argument("--ram", type=parse_size, default=24 * GiB, metavar="SIZE",
                    help="RAM of the machine (default 24g)")
    mt.add_argument("--profile", choices=list(PROFILES), default=None,
                    help="hardware cost profile: 2010 (the thread's machine) or modern; "
                         "default 2010 for the 2.6 kernels, modern for 6.18")
    mt.add_argument("--memlock", type=parse_memlock, default=RLIM_INFINITY,
                    metavar="SIZE|unlimited",
                    help="RLIMIT_MEMLOCK of the memtoy process (default unlimited, as on "
                         "Michel's machine, where he ran memtoy as root); with a size, "
                         "memtoy runs as an unprivileged user (no CAP_IPC_LOCK)")
    mt.add_argument("--sparse", type=parse_sparse, action="append", default=[],
                    metavar="PATH=SIZE",
                    help="create PATH as a sparse file of SIZE before the session, as "
                         "'dd if=/dev/zero of=PATH bs=1M seek=N count=0' does; repeatable")
    mt.set_defaults(subparser=mt)
    return parser


def memtoy_main(args, parser):
    profile = args.profile or ("modern" if args.kernel == "6.18" else "2010")
    try:
        m = Machine(kernel=args.kernel, ram=args.ram, profile=profile)
        m.mkfs("/data", fs=args.fs, size=args.partition)
    except OSError as e:
        parser.error(f"cannot build the machine: {e.strerror}")
    for path, size in args.sparse:
        try:
            make_sparse(m, path, size)
        except OSError as e:
            parser.error(f"--sparse {path}: {e.strerror}")
    script = None
    if args.script is not None:
        try:
            with open(args.script, encoding="utf-8") as f:
                script = f.read()
        except (OSError, UnicodeDecodeError) as e:
            # memtoy.c open_script_file
            print(f"{PROGRAM}:  failed to open script {args.script} - "
                  f"{getattr(e, 'strerror', None) or e}", file=sys.stderr)
            return 1
    interactive = script is None and sys.stdin.isatty()
    p = m.spawn(memlock=(args.memlock, args.memlock))
    toy = Memtoy(m, p, out=sys.stdout, err=sys.stderr, batch=not interactive)
    toy.banner()
    if interactive:
        while toy.exit_status is None:
            try:
                line = input(PROMPT)
            except EOFError:
                print()                     # memtoy: flush the prompt
                break
            except KeyboardInterrupt:
                print()
                continue
            toy.run_line(line)
    else:
        toy.run_script(script if script is not None else sys.stdin.read())
        if toy.exit_status is None:
            print(f"{PROGRAM} EOF on stdin")  # memtoy.c readline_ni at end of input
    sys.stdout.flush()
    if toy.exit_status:
        return toy.exit_status
    return 128 + 9 if toy.killed else 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "memtoy":
        return memtoy_main(args, args.subparser)
    parser.error(f"unknown command {args.command}")    # not reached: argparse checks it
    return 2


if __name__ == "__main__":
    sys.exit(main())
