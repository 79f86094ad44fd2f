"""Answer forms: how an answer is written, read back from what a student typed, and compared.

A form says itself in the question ("Answer in kB.", "Answer with one word:
done, hung or ENOMEM."), reads a typed answer, tolerating spacing, case and
the units it can convert, and explains what it cannot read instead of
calling it wrong.
"""

import ast
import operator
import re
from dataclasses import dataclass

from mmsim import PAGE_SIZE


class Unreadable(ValueError):
    """A typed answer the form cannot read; the message says why and what to type."""


# A number: 16384, 16,384, 2.5, .5, 1e3; then anything (the unit).
_NUMBER = re.compile(r"^\s*([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?"
                     r"|[-+]?\.\d+(?:[eE][-+]?\d+)?)\s*(.*?)\s*\.?\s*$")

_BYTES = {"b": 1, "byte": 1, "bytes": 1,
          "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
          "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
          "page": PAGE_SIZE, "pages": PAGE_SIZE}
_SECONDS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
            "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "min": 60}


class Quantity:
    """A number in one unit; spellings of that unit and units that convert are accepted.

    unit: as the question writes it ("kB"); units: {spelling: how many of
    `unit` one of it is}, lower case, "" (a bare number) included;
    tolerance: relative, 0 for an exact answer; decimals: how the answer
    is shown; sentence: the instruction the question ends with.
    """

    def __init__(self, unit, units, sentence, tolerance=0.0, decimals=0, suffix=None,
                 example=None, singular=None):
        self.unit, self.units, self.tolerance, self.decimals = unit, dict(units), tolerance, decimals
        self.suffix = f" {unit}" if suffix is None else suffix
        self.singular_suffix = f" {singular}" if singular else self.suffix
        self.example = self.suffix if example is None else example
        within = f" (within {tolerance:.0%})" if tolerance else ""
        self.sentence = sentence.format(unit=unit) + within + "."

    def instruction(self):
        """The sentence the question ends with."""
        return self.sentence

    def read(self, text):
        """The number text stands for, in this form's unit; raise Unreadable if none."""
        text = str(text).strip()
        if not text:
            raise Unreadable(f"no answer yet: type a number, {self._example()}")
        match = _NUMBER.match(text)
        if not match:
            raise Unreadable(f"not a number: {text!r}; type a number, {self._example()}")
        number, unit = float(match.group(1).replace(",", "")), match.group(2)
        if unit.startswith("(") and unit.endswith(")"):
            unit = unit[1:-1].strip()          # as show() writes it: "512 (512-byte units)"
        factor = self.units.get(unit.lower())
        if factor is None:
            raise Unreadable(f"not a number of {self.unit}: {unit!r} is not a unit this "
                             f"answer converts from; type a number, {self._example()}")
        return number * factor

    def agrees(self, given, right):
        """True if given is right, within the tolerance."""
        slack = self.tolerance * abs(right) if self.tolerance else 1e-9 * max(1.0, abs(right))
        return abs(given - right) <= slack

    def show(self, value):
        """The answer as text, with its unit."""
        if self.decimals:
            return f"{value:.{self.decimals}f}{self.suffix}"
        n = round(value)
        return f"{n}{self.singular_suffix if n == 1 else self.suffix}"

    def _example(self):
        return f"like 12 or 12{self.example}"

    def words(self):
        """What the question must name for a student to know the form: the unit."""
        return [self.unit]


def kilobytes():
    """kB as /proc writes it (1024 bytes); B, MiB, GiB and pages convert."""
    return Quantity("kB", _size_units(1 << 10), "Answer in {unit}")


def mebibytes(tolerance=0.0, decimals=0):
    """MiB; B, kB, GiB and pages convert."""
    return Quantity("MiB", _size_units(1 << 20), "Answer in {unit}", tolerance, decimals)


def sectors():
    """512-byte units, as st_blocks counts; B, kB, MiB and pages convert."""
    units = _size_units(512)
    units.update({"sector": 1, "sectors": 1, "block": 1, "blocks": 1, "512-byte units": 1,
                  "units": 1})
    return Quantity("512-byte units", units, "Answer in {unit}", suffix=" (512-byte units)",
                    example=" sectors")


def seconds(tolerance=0.0, decimals=2):
    """Seconds; ms, µs and min convert."""
    return Quantity("seconds", dict(_SECONDS, **{"": 1}), "Answer in {unit}", tolerance,
                    decimals, suffix=" s")


def count(noun, singular=None):
    """A whole number of things (faults, pages): a bare number, or one with the noun."""
    singular = singular or noun.rstrip("s")
    units = {"": 1}
    for name in (noun, singular, noun.split()[-1], singular.split()[-1]):
        units[name.lower()] = 1
    return Quantity(noun, units, "Answer with a number of {unit}", singular=singular)


def ratio(tolerance=0.05, decimals=3):
    """How many times one thing is another: 2.2, 2.2x or 2.2 times."""
    units = {"": 1, "x": 1, "×": 1, "times": 1}
    return Quantity("ratio", units, "Answer with the {unit}, a number such as 1.5", tolerance,
                    decimals, suffix="x")


def _size_units(unit_bytes):
    return dict({k: v / unit_bytes for k, v in _BYTES.items()}, **{"": 1})


class Words:
    """One word out of a list: case, spacing, quotes and a trailing "()" do not matter."""

    def __init__(self, words, what="one word"):
        self.choices = list(words)
        self.what = what

    def instruction(self):
        """The sentence the question ends with: the words to choose from."""
        return f"Answer with {self.what}: {_or(self.choices)}."

    def read(self, text):
        """The word of the list that text is; raise Unreadable if it is none of them."""
        word = str(text).strip().strip("`'\"").strip()
        if word.endswith("()"):
            word = word[:-2]
        if not word:
            raise Unreadable(f"no answer yet: type {self.what}, {_or(self.choices)}")
        for choice in self.choices:
            if word.lower() == choice.lower():
                return choice
        raise Unreadable(f"not one of the answers: {str(text).strip()!r}; type {self.what}, "
                         f"{_or(self.choices)}")

    def agrees(self, given, right):
        return given == right

    def show(self, value):
        return str(value)

    def words(self):
        return list(self.choices)


def _or(words):
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def plural(n, noun, plural_form=None):
    """'1 page', '3 pages'."""
    return f"{n} {noun if n == 1 else plural_form or noun + 's'}"


def a(number):
    """'a 4', 'an 8', 'an 11', 'an 18', 'a 1920': the article a number is said with."""
    digits = str(number)
    eleven = len(digits) % 3 == 2 and digits.startswith(("11", "18"))
    return f"an {number}" if digits.startswith("8") or eleven else f"a {number}"


def first(n, noun="page", whose="the"):
    """'the first page', 'the first 3 pages' ('its first page' with whose="its")."""
    return f"{whose} first {noun}" if n == 1 else f"{whose} first {plural(n, noun)}"


class Assertion:
    """One assertion over a result's fields, as a test would write it: `store_faults == 1`.

    The grammar is Python's, restricted: field names, literals (numbers,
    strings, True, False, None, and lists or tuples of them), the comparisons
    == != < <= > >= in, not in, and `and`, `or`, `not`. Nothing is called and
    nothing else is looked up, so an answer can be evaluated safely. The right
    answer is a Planted (the canonical assertion and the two results); a
    typed assertion agrees when it holds on the good result and fails on the
    broken one.
    """

    unreadable = "not an assertion"

    def __init__(self, fields):
        self.fields = list(fields)

    def instruction(self):
        return (f"Answer with one assertion over the fields "
                f"({', '.join(self.fields)}): a field, a comparison (== != < <= > >= in) and a "
                f"value, such as `store_faults == 1`; join several with and, or.")

    def read(self, text):
        """The parsed assertion (an Assertion.Parsed); raise Unreadable if text is none."""
        text = str(text).strip().strip("`").strip()
        if not text:
            raise Unreadable("no answer yet: type an assertion, like store_faults == 1")
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError:
            raise Unreadable(f"{self.unreadable}: {text!r} is not Python; type one like "
                             f"store_faults == 1") from None
        bad = self._refuse(tree)
        if bad:
            raise Unreadable(f"{self.unreadable}: {bad}; type one like store_faults == 1")
        return Parsed(text, tree)

    def _refuse(self, node):
        """Why node is outside the grammar ("" if it is inside)."""
        if isinstance(node, ast.BoolOp):
            return next(filter(None, map(self._refuse, node.values)), "")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._refuse(node.operand)
        if isinstance(node, ast.Compare):
            if not all(isinstance(op, _COMPARE) for op in node.ops):
                return "only == != < <= > >= in and not in compare"
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Name):
                    if side.id not in self.fields:
                        return f"{side.id!r} is not a field of the result"
                elif not _literal(side):
                    return f"{ast.unparse(side)!r} is neither a field nor a value"
            return ""
        if isinstance(node, ast.Name):
            return ("" if node.id in self.fields else f"{node.id!r} is not a field of the result")
        return f"{ast.unparse(node)!r} is not a comparison"

    def holds(self, parsed, result):
        """Whether parsed holds on result (a dict); None where Python refuses a comparison."""
        try:
            return bool(_evaluate(parsed.tree, result))
        except TypeError:
            return None

    def agrees(self, given, right):
        return self.holds(given, right.good) is True and self.holds(given, right.bad) is False

    def why_wrong(self, given, right):
        """Why a readable assertion is wrong: what it does on each result."""
        good = self.holds(given, right.good)
        if good is None:
            return f"{given} compares values of different types on {right.good_name}"
        if not good:
            return f"{given} fails on {right.good_name} too, where the result is right"
        return f"{given} holds on {right.bad_name} too: it does not catch the regression"

    def show(self, value):
        return str(value)

    def words(self):
        return list(self.fields)


class Parsed:
    """A typed assertion: its text and its expression tree."""

    def __init__(self, text, tree):
        self.text, self.tree = text, tree

    def __str__(self):
        return self.text


@dataclass(frozen=True)
class Planted:
    """The right answer to an assertion exercise: one assertion that catches it,
    and the results on the good kernel and on the broken one (field -> value)."""

    assertion: str
    good_name: str
    good: dict
    bad_name: str
    bad: dict

    def __str__(self):
        return self.assertion


_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
        ast.NotIn: lambda a, b: a not in b}


def _literal(node):
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return not isinstance(node, (ast.Dict, ast.Set))


def _evaluate(node, result):
    """Evaluate a tree that Assertion.read accepted, over result."""
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(v, result) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        return not _evaluate(node.operand, result)
    if isinstance(node, ast.Name):
        return result[node.id]
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, result)
        for op, right_node in zip(node.ops, node.comparators):
            right = _evaluate(right_node, result)
            if not _OPS[type(op)](left, right):
                return False
            left = right
        return True
    return ast.literal_eval(node)
