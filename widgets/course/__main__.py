"""python -m widgets.course DIR [--course-id ID]: build the nbgrader course in DIR."""

import argparse

from ..exercises import catalog
from .coursedir import COURSE_ID, build


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m widgets.course", description=__doc__)
    parser.add_argument("root", help="the course directory, for example _build/course")
    parser.add_argument("--course-id", default=COURSE_ID,
                        help="nbgrader's course id; it is also in every student's seed")
    args = parser.parse_args(argv)
    assignments = build(args.root, args.course_id)
    print(f"{args.root}: course {args.course_id!r}, {len(catalog())} exercises in "
          f"{len(assignments)} assignments ({', '.join(assignments)}); "
          f"release/ is ready to hand out")


if __name__ == "__main__":
    main()
