"""The README's list of spreadsheet functions is exactly the set the workbooks use.

Teachers check that list against the spreadsheet their school has, so it must be
neither short (a function missing in their app) nor padded. Every formula of a matrix
of workbooks is read from the files as written: cell formulas, conditional-format rules
and data-validation rules.
"""

import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import unescape

import pytest

from book_matrix import matrix_books

README = Path(__file__).resolve().parent.parent / "README.md"
FORMULA_ELEMENTS = re.compile(rb"<(f|formula|formula1|formula2)(?:\s[^>]*)?>([^<]*)</\1>")
TEXT_LITERAL = re.compile(r'"(?:[^"]|"")*"')            # "text", with "" inside
SHEET_NAME = re.compile(r"'(?:[^']|'')*'")              # 'sheet name', with '' inside
FUNCTION_CALL = re.compile(r"(?<![\w.$!])([A-Za-z_][\w.]*)\(")   # a name followed by "(", not a sheet or cell


def functions_in(formula):
    """The function names called in one formula (upper case); text and sheet names are skipped."""
    bare = SHEET_NAME.sub("''", TEXT_LITERAL.sub('""', formula))
    return {name.upper() for name in FUNCTION_CALL.findall(bare)}


def functions_of(path):
    """{function: a place it is used} over every worksheet part of the workbook at ``path``."""
    used = {}
    with zipfile.ZipFile(path) as package:
        for name in package.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                for tag, text in FORMULA_ELEMENTS.findall(package.read(name)):
                    for function in functions_in(unescape(text.decode("utf-8"), {"&quot;": '"', "&apos;": "'"})):
                        used.setdefault(function, f"{path.name}:{name} <{tag.decode()}>")
    return used


def readme_functions():
    """The functions the README lists: the backquoted names in its sentence on formulas."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"The formulas \(cells, conditional formats and validation rules\) use only these functions"
                      r"[^:]*:(.*?)\(`tests/", text, re.S)
    assert match, "README.md: the sentence listing the formulas' functions is missing"
    return set(re.findall(r"`([A-Z][A-Z0-9.]*)`", match.group(1)))


def test_function_names_are_found_where_they_are_called():
    assert functions_in("=SUMPRODUCT('3 Conv'!B2:D4,'2 Filters'!$B$3:$D$5)+MAX(0,B2)") == {"SUMPRODUCT", "MAX"}
    assert functions_in('=IF(A1="SUM(",FIXED(B2,3),"")') == {"IF", "FIXED"}
    assert functions_in("='MAX(odd)'!A1+_xlfn.STDEV.S(A1:A3)+ln(2)") == {"_XLFN.STDEV.S", "LN"}


def test_the_readme_lists_exactly_the_functions_the_workbooks_use(tmp_path_factory):
    used = {}
    for path in matrix_books(tmp_path_factory).values():
        for function, place in functions_of(path).items():
            used.setdefault(function, place)
    listed = readme_functions()
    unlisted = {function: place for function, place in used.items() if function not in listed}
    assert not unlisted, (f"the workbooks use functions the README does not list: {unlisted}; add them to the "
                          "README's list of functions (and check Excel 2010, LibreOffice and Google Sheets have them)")
    unused = listed - set(used)
    assert not unused, f"the README lists functions no workbook uses: {sorted(unused)}; drop them from its list"


@pytest.mark.parametrize("name", ["COLUMN", "MOD", "ROW"])
def test_conditional_formats_are_searched_too(tmp_path_factory, name):
    """These appear only in conditional-format rules, so the search must reach them there."""
    path = matrix_books(tmp_path_factory)["default"]
    assert name in functions_of(path)
