"""The shape the code keeps: sheet writers place nothing by arithmetic and write no formula text.

Positions come from the plan (``plans.py``, ``layout.py``) and formula text from the builders
(``formulas.py``, ``lesson_formulas.py``, the kinds' own); a writer only asks them. The check
reads the writers' code with comments and strings left out, so a docstring may still talk
about ``row + 1``.
"""

import io
import re
import tokenize
from pathlib import Path

import pytest

WORKBOOK = Path(__file__).resolve().parent.parent / "xlcnn" / "workbook"
# the evaluator parses formulas (its "=" is an operator), it writes none
WRITERS = sorted(path for path in WORKBOOK.glob("*.py") if path.name not in ("evaluate.py", "__init__.py"))

POSITION = "(row|col|last_row|last_col|top|left)"     # a block's attributes that place it
OFFSET = re.compile(rf"\.{POSITION}\b\s*[-+]|[-+]\s*[\w.]*\.{POSITION}\b"    # block.row + 1, 2 - block.col
                    r"|\b(stride|step)\b\s*\*|\*\s*[\w.]*\b(stride|step)\b")  # i * stride: a window's position
FORMULA_TEXT = re.compile(r"""^[rbuf]*(['"]{1,3})=\S""", re.IGNORECASE)   # "=SUM(..." or f"={cell}..."


def _tokens(path):
    return list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))


def offset_lines(path):
    """(line number, code) of every line whose code (comments and strings left out) adds to a position."""
    code = {}
    for token in _tokens(path):
        if token.type not in (tokenize.COMMENT, tokenize.STRING):
            code.setdefault(token.start[0], []).append(token.string)
    lines = {n: re.sub(r"\s*\.\s*", ".", " ".join(parts)) for n, parts in code.items()}
    return [(n, line) for n, line in lines.items() if OFFSET.search(line)]


def formula_strings(path):
    """(line number, text) of every string literal that is formula text."""
    return [(token.start[0], token.string) for token in _tokens(path)
            if token.type == tokenize.STRING and FORMULA_TEXT.match(token.string)]


@pytest.mark.parametrize("path", WRITERS, ids=lambda path: path.name)
def test_writers_do_no_offset_arithmetic(path):
    assert offset_lines(path) == []


@pytest.mark.parametrize("path", WRITERS, ids=lambda path: path.name)
def test_writers_hold_no_formula_text(path):
    assert formula_strings(path) == []


def test_the_checks_bite(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('cell = ws.cell(block.row + 1, block.col)\nfirst = i * plan.stride\n'
                   'text = f"=SUM({block.range()})"\nnote = "a docstring about row + 1"  # col - 1\n'
                   'x = top + block.last_row\n', encoding="utf-8")
    assert [n for n, _ in offset_lines(bad)] == [1, 2, 5]
    assert [n for n, _ in formula_strings(bad)] == [3]
