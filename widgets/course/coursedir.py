"""The course directory: nbgrader_config.py, source/chNN/chNN.ipynb, and nbgrader's release/.

    build("_build/course")     # every chapter of the catalogue that has exercises
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..exercises import catalog
from .notebooks import write_chapter
from .sheet import assignment_id

COURSE_ID = "mmbook"

CONFIG = """\
# nbgrader's configuration of the {course_id} course, written by `make course`
# (widgets/course/coursedir.py). Paths are relative to this file: the directory can move.
import os

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = here
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
c.Exchange.root = os.path.join(here, "exchange")
"""


def chapters(book=None):
    """The chapters that have exercises, in order."""
    book = catalog() if book is None else book
    return sorted({ex.chapter for ex in book.values()})


def write_course(root, course_id=COURSE_ID, book=None):
    """Write nbgrader_config.py and a fresh source/; return the assignment ids."""
    root = Path(root)
    book = catalog() if book is None else book
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG.format(course_id=course_id))
    shutil.rmtree(root / "source", ignore_errors=True)
    for chapter in chapters(book):
        write_chapter(root / "source", course_id, chapter, book.chapter(chapter))
    return [assignment_id(ch) for ch in chapters(book)]


def nbgrader(root, *args, env=None):
    """Run `nbgrader args` in the course directory; return its output, raise if it fails.

    The interpreter's bin directory goes first on PATH: on a fresh gradebook
    nbgrader runs `alembic` from PATH.
    """
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def build(root, course_id=COURSE_ID, book=None, env=None):
    """Write the course and release every assignment: release/chNN/chNN.ipynb."""
    assignments = write_course(root, course_id, book)
    shutil.rmtree(Path(root) / "release", ignore_errors=True)
    nbgrader(root, "generate_assignment", "ch*", "--force", env=env)
    return assignments
