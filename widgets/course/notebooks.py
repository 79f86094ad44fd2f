"""One chapter's source notebook for nbgrader: questions, solution regions, hidden tests.

Per exercise: a heading, a read-only cell that prints the question with the
student's numbers, an answer cell whose solution region nbgrader clears in the
release, and a graded read-only cell: a visible test of the answer's form and
a hidden test that recomputes the answer with mmsim for the student's seed and
checks it with the exercise's own check(). Cell ids are derived from the
exercise keys, so the same catalogue writes the same notebook byte for byte.
"""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .sheet import assignment_id

SCHEMA_VERSION = 3
POINTS = 1          # per exercise

INTRO = """\
# Chapter {chapter}: exercises

The exercises of chapter {chapter} of the book, with your own numbers: they
come from your student id, so do not copy a neighbour's answers.

1. If you hand in this notebook yourself (by mail, on a course site), type
   the student id your teacher gave you between the quotes of
   `STUDENT_ID = ""` below. If you fetch and submit it with nbgrader
   (JupyterHub, a course server), leave it empty: your user name is your id.
2. Run the notebook from the top: the cell under `STUDENT_ID` says whose
   numbers you have and lists your questions; each exercise prints its own.
3. In each answer cell, replace `raise NotImplementedError()` by your answer
   as text: a number with its unit, or one of the words the question lists,
   for example `answer_{example} = "16384 kB"`.
4. The cell under each answer checks that it can be read. Whether it is right
   is decided when your work is graded. Do not change the other cells.
"""


def name(key):
    """'03.2' -> '03_2': the exercise's part of variable names and grade ids."""
    return key.replace(".", "_")


def _nbgrader(grade_id, grade=False, solution=False, locked=False):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": SCHEMA_VERSION, "solution": solution, "task": False}
    if grade:
        meta["points"] = POINTS
    return {"nbgrader": meta}


def _cell(new, source, cell_id, **nbgrader):
    cell = new(source, id=cell_id)
    cell.metadata["deletable"] = False      # the checks and the seed need every cell
    if nbgrader:
        cell.metadata.update(_nbgrader(cell_id, **nbgrader))
    return cell


def exercise_cells(course_id, exercise):
    """The four cells of one exercise."""
    key, n = exercise.key, name(exercise.key)
    sheet = f"Sheet({course_id!r}, {exercise.chapter!r}, STUDENT_ID)"
    return [
        _cell(new_markdown_cell, f"## Exercise {key}: {exercise.title}", f"ex{n}_title",
              locked=True),
        _cell(new_code_cell, f'sheet.ask("{key}")', f"ex{n}_question", locked=True),
        _cell(new_code_cell,
              f'# answer_{n} = "..."  (your answer, as text)\n'
              f"### BEGIN SOLUTION\n"
              f'answer_{n} = sheet.reveal("{key}")\n'
              f"### END SOLUTION",
              f"ex{n}_answer", solution=True),
        _cell(new_code_cell,
              f'sheet.assert_readable("{key}", answer_{n})\n'
              f"### BEGIN HIDDEN TESTS\n"
              f'{sheet}.assert_right("{key}", answer_{n})\n'
              f"### END HIDDEN TESTS",
              f"ex{n}_check", grade=True, locked=True),
    ]


def chapter_notebook(course_id, chapter, exercises):
    """The source notebook of one chapter's assignment."""
    if not exercises:
        raise ValueError(f"chapter {chapter} has no exercises")
    cells = [
        _cell(new_markdown_cell, INTRO.format(chapter=chapter, example=name(exercises[0].key)),
              "intro", locked=True),
        _cell(new_code_cell, 'STUDENT_ID = ""  # your student id, between the quotes',
              "student"),     # the student's to edit; nbgrader leaves it alone
        _cell(new_code_cell,
              f"from widgets.course import Sheet\n\n"
              f"sheet = Sheet({course_id!r}, {chapter!r}, STUDENT_ID)\nsheet",
              "setup", locked=True),
    ]
    for exercise in exercises:
        cells.extend(exercise_cells(course_id, exercise))
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                       "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(nb)
    return nb


def write_chapter(source_dir, course_id, chapter, exercises):
    """Write source/chNN/chNN.ipynb; return its path."""
    aid = assignment_id(chapter)
    path = source_dir / aid / f"{aid}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(chapter_notebook(course_id, chapter, exercises), path)
    return path
