"""A small evaluator for xlcnn's own formulas: the values a file stores beside them.

A viewer that does not recalculate (Excel's Protected View, mail previews, phone
viewers, pandas) shows each formula's stored value, so every formula cell must carry
the true one. Most cells get theirs straight from the NumPy engine (``values.py``);
this module works out the rest (worked examples, summaries, references, margins) from
the cells they read, the way a spreadsheet would. It knows the functions and operators
xlcnn writes and refuses anything else, so no formula is ever saved without a value.

Semantics follow Excel where engines agree: an empty cell is 0 in arithmetic and ""
in text, text compares without regard to case, SUM and friends skip text in ranges,
and FIXED rounds halves away from zero.

A workbook holds tens of thousands of formulas but only a few hundred shapes of formula
(a conv cell and its neighbour differ only in their references). So each formula is
split into tokens by one regular expression, and the tokens other than references are
the key of a compiled program: nested closures, made once per shape, that take the
reference texts of the cell at hand. The arithmetic is the same Python float arithmetic
in the same order as a tree-walking evaluator would do it, so every value is the same.
"""

import math
import operator
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache, partial

# A reference: an optional sheet, a cell, and an optional second cell of a range.
# Quoted texts are read a run of ordinary characters at a time; the runs are possessive (++):
# giving characters back could never help, and trying to would take exponential time.
REF = re.compile(r"""(?:(?P<sheet>'(?:[^']++|'')+'|[A-Za-z_][A-Za-z0-9_.]*)!)?
    \$?(?P<c0>[A-Z]{1,3})\$?(?P<r0>[0-9]+)(?::\$?(?P<c1>[A-Z]{1,3})\$?(?P<r1>[0-9]+))?""", re.X)

# One token, in three groups so that TOKEN.split(text) gives four entries per token: the text
# skipped before it (nothing, in a formula it can read), then the token in the group of its kind.
# The order of the alternatives decides: "LOG10(" is a function, "A1" a reference, "a1b" a name.
TOKEN = re.compile(r"""\s*(?:
    (?P<lead>"(?:[^"]++|"")*"                # a string
           | [A-Za-z_][A-Za-z0-9_.]*\()      # a function, with its "("
  | (?P<ref>%s)
  | (?P<rest>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[Ee][+-]?[0-9]+)?    # a number
           | [A-Za-z_][A-Za-z0-9_.]*                              # a name
           | <>|<=|>=|[-+*/^&=<>(),])                             # an operator
)""" % re.sub(r"\(\?P<\w+>", "(?:", REF.pattern), re.X)
PER_TOKEN = 4   # entries of TOKEN.split per token: skipped text, lead, ref, rest

BINARY = {"=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4, "^": 5}
COMPARISONS = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le,
               ">=": operator.ge}
NO_CELLS = {}   # the row of a sheet where nothing is written


class FormulaError(ValueError):
    """A formula the evaluator cannot compute (an unknown function, a division by zero ...)."""


class Range:
    """A rectangle of cells, zero-based and inclusive, on a named sheet."""

    __slots__ = ("sheet", "r0", "c0", "r1", "c1")

    def __init__(self, sheet, r0, c0, r1, c1):
        self.sheet, self.r0, self.c0, self.r1, self.c1 = sheet, r0, c0, r1, c1

    @property
    def shape(self):
        return self.r1 - self.r0 + 1, self.c1 - self.c0 + 1


@lru_cache(maxsize=None)   # at most 18,278 column names
def _col_index(letters):
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


# ---------------------------------------------------------------- public


class Evaluator:
    """Values of the formula cells of a workbook held as ``{sheet: SheetCells}``.

    ``names`` maps defined names to ranges. Formula cells whose ``cached`` value is set
    are taken as they are; the others are evaluated on demand, each once.
    """

    def __init__(self, sheets, names):
        self.sheets = sheets
        self.names = names
        self._busy = set()
        self._ranges = {}   # (sheet, reference text) -> Range: neighbouring cells read the same cells

    def fill(self):
        """Give every formula cell without a stored value its value; returns how many there were."""
        pending = [(sheet, row, col) for sheet, cells in self.sheets.items() for row, line in cells.rows.items()
                   for col, cell in line.items() if cell.kind == "f" and cell.cached is None]
        for key in pending:
            self.cell_value(*key)
        return len(pending)

    def formula_value(self, sheet, row, col, formula):
        """The value of ``formula`` as if it stood at (row, col) of ``sheet``."""
        shape, refs = _split(formula[1:] if formula.startswith("=") else formula)
        try:
            program = _program(shape)
        except FormulaError as exc:
            raise FormulaError(f"{exc} in {formula}") from None
        value = program(self, _Place(sheet, row, col, refs))
        if isinstance(value, Range):
            value = self._scalar(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise FormulaError(f"{formula} gives {value}")
        return value

    def cell_value(self, sheet, row, col):
        """A cell's value: None when empty, its constant, or its formula's (evaluated once)."""
        return self._value_of(self.sheets[sheet].rows.get(row, NO_CELLS).get(col), sheet, row, col)

    # ------------------------------------------------------------ evaluation

    def _value_of(self, cell, sheet, row, col):
        """cell_value for the cell found at (row, col): ranges look their rows up once."""
        if cell is None or cell.value is None:
            return None
        kind = cell.kind
        if kind == "f":
            if cell.cached is None:
                self._evaluate(cell, sheet, row, col)
            return cell.cached
        if kind == "n":
            return float(cell.value)   # pixels are stored as whole numbers; spreadsheets know only doubles
        return cell.value

    def _evaluate(self, cell, sheet, row, col):
        key = (sheet, row, col)
        if key in self._busy:
            raise FormulaError(f"circular reference at {sheet}!{row},{col}")
        self._busy.add(key)
        try:
            cell.cached = self.formula_value(sheet, row, col, cell.value)
        except FormulaError as exc:
            raise FormulaError(f"'{sheet}' row {row + 1} column {col + 1}: {exc}") from None
        finally:
            self._busy.discard(key)

    def _range(self, sheet, text):
        """The Range a reference's text names, on ``sheet`` unless it names its own (each read once)."""
        found = self._ranges.get((sheet, text))
        if found is None:
            found = self._ranges[sheet, text] = _reference(sheet, text)
        return found

    def _name(self, name):
        found = self.names.get(name.lower())
        if found is None:
            raise FormulaError(f"unknown name {name}")
        return found

    def _scalar(self, value):
        """A range used where one value is expected: a single cell gives its value."""
        if not isinstance(value, Range):
            return value
        if value.r0 != value.r1 or value.c0 != value.c1:
            raise FormulaError("a range where a single value is expected")
        return self.cell_value(value.sheet, value.r0, value.c0)

    def _values(self, arg):
        """The values of a range (row by row) or a single value, as a list."""
        if not isinstance(arg, Range):
            return [arg]
        rows, sheet, value = self.sheets[arg.sheet].rows, arg.sheet, self._value_of
        cols = range(arg.c0, arg.c1 + 1)
        out = []
        for r in range(arg.r0, arg.r1 + 1):
            line = rows.get(r, NO_CELLS)
            for c in cols:
                # nearly every cell a range reads is a number or a formula worked out already:
                # those two as _value_of gives them, without a call per cell
                cell = line.get(c)
                kind = None if cell is None else cell.kind
                if kind == "f" and cell.cached is not None:
                    out.append(cell.cached)
                elif kind == "n" and cell.value is not None:
                    out.append(float(cell.value))
                else:
                    out.append(value(cell, sheet, r, c))
        return out

    def _numbers(self, args):
        """Numbers of the arguments as SUM sees them: text and empty cells in ranges are skipped."""
        out = []
        for arg in args:
            if isinstance(arg, Range):
                # nearly every value is a float already: float() only for the others (a call each)
                out += [v if type(v) is float else float(v)
                        for v in self._values(arg) if type(v) is float or _is_number(v)]
            else:
                out.append(_number(arg))
        return out

    # ------------------------------------------------------------ functions: (evaluator, arguments) -> value

    def _and(self, args):
        return all(_truth(v) for arg in args for v in self._values(arg) if v is not None)

    def _sum(self, args):
        return math.fsum(self._numbers(args))

    def _average(self, args):
        numbers = self._numbers(args)
        if not numbers:
            raise FormulaError("AVERAGE of no numbers")
        return math.fsum(numbers) / len(numbers)

    def _max(self, args):
        return max(self._numbers(args), default=0.0)

    def _min(self, args):
        return min(self._numbers(args), default=0.0)

    def _mmult(self, args):
        """A row times a column: the 1 x 1 matrix products xlcnn writes (im2col), as one number."""
        row, column = args
        if not (isinstance(row, Range) and isinstance(column, Range) and row.r0 == row.r1 and column.c0 == column.c1):
            raise FormulaError("MMULT is written for a row times a column only")
        return self._sumproduct(args)

    def _sumproduct(self, args):
        # every item a Python float (text, empty cells and booleans count 0); type(...) is float
        # first: nearly every item is one, and the full test costs a call
        columns = [[item if type(item) is float else float(item) if _is_number(item) else 0.0
                    for item in self._values(arg)] for arg in args]
        if len({len(c) for c in columns}) != 1:
            raise FormulaError("SUMPRODUCT of ranges of different sizes")
        # left to right, as a spreadsheet does: each product is 1.0 * a * b ..., and 1.0 * a is
        # exactly a, so a * b (two columns, nearly always) or math.prod (its floats multiplied in
        # order) give the same doubles as a loop; the total adds them in order
        total = 0.0
        if len(columns) == 2:
            for a, b in zip(*columns):
                total += a * b
        else:
            for product in map(math.prod, zip(*columns)):
                total += product
        return total

    def _ln(self, args):
        x = _number(self._scalar(args[0]))
        if x <= 0:
            raise FormulaError("LN of a number that is not positive")
        return math.log(x)

    def _sqrt(self, args):
        x = _number(self._scalar(args[0]))
        if x < 0:
            raise FormulaError("SQRT of a negative number")
        return math.sqrt(x)

    def _mod(self, args):
        x, y = (_number(self._scalar(a)) for a in args)
        if y == 0:
            raise FormulaError("MOD by zero")
        return x - y * math.floor(x / y)

    def _countif(self, args):
        test = _criterion(self._scalar(args[1]))
        return float(sum(1 for v in self._values(args[0]) if test(v)))

    def _fixed(self, args):
        values = [self._scalar(a) for a in args]
        decimals = int(_number(values[1])) if len(values) > 1 else 2
        return _fixed(_number(values[0]), decimals, _truth(values[2]) if len(values) > 2 else False)

    def _row_or_column(self, args, name):
        ref = args[0]
        if not isinstance(ref, Range):
            raise FormulaError(f"{name} of something that is not a reference")
        return float((ref.r0 if name == "ROW" else ref.c0) + 1)

    def _match_call(self, args):
        mode = _number(self._scalar(args[2])) if len(args) > 2 else 1
        return self._match(self._scalar(args[0]), args[1], mode)

    def _index(self, args):
        area = args[0]
        if not isinstance(area, Range):
            raise FormulaError("INDEX of something that is not a range")
        height, width = area.shape
        r = int(_number(self._scalar(args[1])))
        c = int(_number(self._scalar(args[2]))) if len(args) > 2 else None
        if c is None:   # one index into a single row or column
            r, c = (r, 1) if width == 1 else (1, r)
        if not (1 <= r <= height and 1 <= c <= width):
            raise FormulaError("INDEX outside its range")
        return self.cell_value(area.sheet, area.r0 + r - 1, area.c0 + c - 1)

    def _match(self, wanted, area, mode):
        if mode != 0:
            raise FormulaError("MATCH is written with exact matching only")
        for n, v in enumerate(self._values(area), start=1):
            if v is not None and _compare("=", v, wanted):
                return float(n)
        raise FormulaError("MATCH found nothing")


def _unary(function):
    return lambda evaluator, args: function(_number(evaluator._scalar(args[0])))


FUNCTIONS = {
    "AND": Evaluator._and, "SUM": Evaluator._sum, "AVERAGE": Evaluator._average, "MAX": Evaluator._max,
    "MIN": Evaluator._min, "SUMPRODUCT": Evaluator._sumproduct, "MMULT": Evaluator._mmult, "LN": Evaluator._ln, "SQRT": Evaluator._sqrt, "MOD": Evaluator._mod,
    "COUNTIF": Evaluator._countif, "FIXED": Evaluator._fixed, "INDEX": Evaluator._index,
    "MATCH": Evaluator._match_call,
    "CHOOSE": lambda e, args: e._scalar(args[int(_number(e._scalar(args[0])))]),   # a grouped example's channel name
    "ROW": lambda e, args: e._row_or_column(args, "ROW"), "COLUMN": lambda e, args: e._row_or_column(args, "COLUMN"),
    "ABS": _unary(abs), "EXP": _unary(math.exp), "TANH": _unary(math.tanh), "INT": _unary(lambda v: float(math.floor(v))),
    # a cell with a link shows its friendly name, else the link itself
    "HYPERLINK": lambda e, args: e._scalar(args[-1]),
}


# ---------------------------------------------------------------- values


def _is_number(v):
    """A number as SUM sees it: booleans are not."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(v):
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except ValueError:
        raise FormulaError(f"text {v!r} where a number is expected") from None


def _truth(v):
    if isinstance(v, str):
        if v.upper() in ("TRUE", "FALSE"):
            return v.upper() == "TRUE"
        raise FormulaError(f"text {v!r} where TRUE or FALSE is expected")
    return _number(v) != 0


def _text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return _general(float(v))
    return v


def _general(x):
    """A number as spreadsheets turn it into text: up to 15 significant digits, no trailing zeros."""
    text = f"{x:.15G}"
    if "E" not in text and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _rank(v):
    """Excel orders numbers before text before logicals."""
    return 2 if isinstance(v, bool) else 1 if isinstance(v, str) else 0


def _compare(op, a, b):
    if a is None:
        a = "" if isinstance(b, str) else 0.0
    if b is None:
        b = "" if isinstance(a, str) else 0.0
    if _rank(a) != _rank(b):
        left, right = _rank(a), _rank(b)
    elif isinstance(a, str):
        left, right = a.lower(), b.lower()
    else:
        left, right = float(a), float(b)
    return COMPARISONS[op](left, right)


def _criterion(value):
    """COUNTIF's test: a number, or text such as ">=0.5" or "cat"."""
    if isinstance(value, str):
        match = re.match(r"(<>|<=|>=|=|<|>)?(.*)$", value, re.S)
        op, rest = match.group(1) or "=", match.group(2)
        try:
            target = float(rest)
        except ValueError:
            target = rest
    else:
        op, target = "=", value
    if isinstance(target, str):
        return lambda v: isinstance(v, str) and _compare(op, v, target)
    return lambda v: _is_number(v) and _compare(op, float(v), target)


def _fixed(x, decimals, no_commas):
    """FIXED: rounded half away from zero (on the shortest decimal form, as spreadsheets do)."""
    rounded = Decimal(repr(x)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)   # no "-0.00"
    return f"{rounded:{'' if no_commas else ','}.{max(decimals, 0)}f}"


# ---------------------------------------------------------------- parsing


class _Place:
    """Where a formula stands, and the texts of its references by token number (None for other tokens)."""

    __slots__ = ("sheet", "row", "col", "refs")

    def __init__(self, sheet, row, col, refs):
        self.sheet, self.row, self.col, self.refs = sheet, row, col, refs


def _reference(sheet, text):
    """The Range of a reference's text, on ``sheet`` unless it names its own."""
    named, c0, r0, c1, r1 = REF.fullmatch(text).groups()
    if named is not None:
        sheet = named.strip("'").replace("''", "'")
    r0, c0 = int(r0) - 1, _col_index(c0)
    r1 = int(r1) - 1 if r1 else r0
    c1 = _col_index(c1) if c1 else c0
    if r1 < r0:   # B2:A1 is A1:B2
        r0, r1 = r1, r0
    if c1 < c0:
        c0, c1 = c1, c0
    return Range(sheet, r0, c0, r1, c1)


def _split(text):
    """(shape, refs): the formula's TOKEN.split with its references blanked, and the references."""
    parts = TOKEN.split(text.rstrip())
    refs = parts[2::PER_TOKEN]
    parts[2::PER_TOKEN] = [None] * len(refs)
    return tuple(parts), refs


@lru_cache(maxsize=4096)   # a few hundred shapes in a workbook; bounded for long test runs
def _program(shape):
    """The compiled program of a formula shape: a function (evaluator, place) -> value."""
    compiler = _Compiler(_shape_tokens(shape))
    program = compiler.expression(0)
    if compiler.pos != len(compiler.tokens):
        raise _unexpected(compiler.tokens[compiler.pos])
    return program


def _shape_tokens(shape):
    """[(kind, text, number)] of a shape: kinds string, func, ref, number, name, op; texts of refs are None."""
    tokens = []
    for number, at in enumerate(range(0, len(shape) - 1, PER_TOKEN)):
        skipped, lead, rest = shape[at], shape[at + 1], shape[at + 3]
        if skipped:
            raise FormulaError(f"cannot read {skipped[:20]!r}")
        if lead is not None:
            tokens.append(("string", lead, number) if lead[0] == '"' else ("func", lead[:-1], number))
        elif rest is None:
            tokens.append(("ref", None, number))
        elif rest[0].isdigit() or rest[0] == ".":
            tokens.append(("number", rest, number))
        elif rest[0].isalpha() or rest[0] == "_":
            tokens.append(("name", rest, number))
        else:
            tokens.append(("op", rest, number))
    if shape[-1]:
        raise FormulaError(f"cannot read {shape[-1][:20]!r}")
    return tokens


class _Compiler:
    """Precedence climbing over the tokens, building each node as a closure (evaluator, place) -> value."""

    def __init__(self, tokens):
        self.tokens, self.pos = tokens, 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None, None)

    def take(self, expected=None):
        token = self.peek()
        if token[0] is None or (expected is not None and token[1] != expected):
            raise FormulaError(f"expected {expected or 'more'}")
        self.pos += 1
        return token

    def expression(self, floor):
        """Operators binding tighter than ``floor``, left to right (Excel has no right-associative one)."""
        left = self.unary()
        while True:
            kind, text, _ = self.peek()
            level = BINARY.get(text) if kind == "op" else None
            if level is None or level <= floor:
                return left
            self.take()
            left = _binary_node(OPERATORS[text], left, self.expression(level))

    def unary(self):
        """A leading sign binds tighter than any operator: in Excel -2^2 is 4."""
        kind, text, _ = self.peek()
        if kind == "op" and text in ("+", "-"):
            self.take()
            operand = self.unary()
            return _negative_node(operand) if text == "-" else operand
        return self.primary()

    def primary(self):
        kind, text, number = self.take()
        if kind == "number":
            return _constant_node(float(text))
        if kind == "string":
            return _constant_node(text[1:-1].replace('""', '"'))
        if kind == "ref":
            return _ref_node(number)
        if kind == "name":
            if text.upper() in ("TRUE", "FALSE"):
                return _constant_node(text.upper() == "TRUE")
            return _name_node(text)
        if kind == "func":
            args = []
            if self.peek()[1] != ")":
                while True:
                    args.append(self.expression(0))
                    if self.peek()[1] != ",":
                        break
                    self.take(",")
            self.take(")")
            return _call_node(text.upper(), args)
        if text == "(":
            inner = self.expression(0)
            self.take(")")
            return inner
        raise _unexpected((kind, text, number))


def _unexpected(token):
    kind, text, _ = token
    return FormulaError(f"unexpected {'a reference' if kind == 'ref' else repr(text)}")


# ---------------------------------------------------------------- program nodes: (evaluator, place) -> value


def _constant_node(value):
    return lambda ev, at: value


def _ref_node(number):
    return lambda ev, at: ev._range(at.sheet, at.refs[number])


def _name_node(name):
    return lambda ev, at: ev._name(name)


def _negative_node(operand):
    return lambda ev, at: -_number(ev._scalar(operand(ev, at)))


def _binary_node(apply, left, right):
    return lambda ev, at: apply(ev._scalar(left(ev, at)), ev._scalar(right(ev, at)))


def _call_node(name, args):
    if name == "IF":   # only the branch taken is evaluated, as in a spreadsheet
        def branch(ev, at):
            chosen = 1 if _truth(ev._scalar(args[0](ev, at))) else 2
            return ev._scalar(args[chosen](ev, at)) if chosen < len(args) else False
        return branch
    if name in ("ROW", "COLUMN") and not args:   # the formula's own cell
        return lambda ev, at: float((at.row if name == "ROW" else at.col) + 1)

    function = FUNCTIONS.get(name)
    if function is None:   # refused when evaluated, not before: an IF may never take this branch
        def unknown(ev, at):
            raise FormulaError(f"function {name} is not one xlcnn writes")
        return unknown
    return lambda ev, at: function(ev, [arg(ev, at) for arg in args])


def _divide(a, b):
    if b == 0:
        raise FormulaError("division by zero")
    return a / b


# each on two values, in the order a tree-walker converts them: both operands, then both numbers
OPERATORS = {
    "&": lambda a, b: _text(a) + _text(b),
    **{op: partial(_compare, op) for op in COMPARISONS},
    "+": lambda a, b: _number(a) + _number(b), "-": lambda a, b: _number(a) - _number(b),
    "*": lambda a, b: _number(a) * _number(b), "/": lambda a, b: _divide(_number(a), _number(b)),
    "^": lambda a, b: _number(a) ** _number(b),
}
