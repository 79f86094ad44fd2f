"""The book's exercises as an nbgrader course (docs/teaching.md).

    python -m widgets.course _build/course       # what `make course` runs
    from widgets.course.coursedir import build
    build("_build/course")     # nbgrader_config.py, source/chNN/chNN.ipynb, then nbgrader
                               # generate_assignment: release/chNN/chNN.ipynb for students

One assignment per chapter that has exercises in the catalogue, written from
it (notebooks.py). The notebooks import only this package and sheet.py: the
student's seeds, questions and checks, with the same check() as the book's
exercise boxes; writing a course (coursedir.py, nbformat) is not loaded there.
"""

from .sheet import Sheet, assignment_id, find_student, seed_for

__all__ = ["Sheet", "assignment_id", "find_student", "seed_for"]
