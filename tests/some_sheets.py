"""The sheets a test looks at, read by openpyxl in full (pictures, merged cells, validation, protection, print
settings) and nothing else.

``openpyxl.load_workbook`` parses every cell of every sheet (a dozen sheets, tens of thousands of cells,
each shared formula rewritten cell by cell) where a test looks at one or two; ``read_only=True`` parses
only the sheets it is asked for but reads little of a sheet besides its cells.
"""

import openpyxl
from openpyxl.reader.excel import ExcelReader


def load_sheets(path, wanted, **options):
    """[worksheet] of ``path`` whose (tab position, title) ``wanted`` accepts, in tab order, each read as
    ``openpyxl.load_workbook(path, **options)`` reads it. The other sheets are left unread."""
    reader = _SomeSheets(path, wanted, **options)
    reader.read()
    return list(reader.wb.worksheets)


def sheet_rows(path):
    """{title: (sheet state, rows of cell values from row 1)} of every sheet of ``path``, each read in one
    read-only pass (under two thirds of a full load's time; a formula's text is each cell's own), every cell
    whatever size the sheet says it has."""
    wb = openpyxl.load_workbook(path, read_only=True)
    sheets = {}
    for ws in wb.worksheets:
        ws.reset_dimensions()
        sheets[ws.title] = ws.sheet_state, list(ws.iter_rows(values_only=True))
    wb.close()
    return sheets


class Unread:
    """A sheet left unread, in its place: openpyxl binds a sheet's print titles and print area by its
    position. Reading anything but its title and state fails, rather than finding the sheet empty."""

    def __init__(self, title, sheet_state):
        self.title, self.sheet_state = title, sheet_state

    def __getattr__(self, name):
        raise AttributeError(f"sheet {self.title!r} was not read (load_sheets reads only the sheets asked for)")


class _SomeSheets(ExcelReader):
    """openpyxl's reader, given only the wanted sheets to read. Its loop reads each sheet the workbook's list
    yields as it is yielded, so a placeholder appended for each sheet passed over keeps every sheet's place."""

    def __init__(self, path, wanted, **options):
        super().__init__(path, **options)
        self._wanted = wanted

    def read_worksheets(self):
        every = self.parser.find_sheets

        def wanted_only():
            for position, (sheet, rel) in enumerate(every()):
                if self._wanted(position, sheet.name):
                    yield sheet, rel
                else:
                    self.wb._sheets.append(Unread(sheet.name, sheet.state))
        self.parser.find_sheets = wanted_only
        super().read_worksheets()
