"""Every XML part of every kind of workbook is valid against the ECMA-376 Transitional schemas.

Excel is stricter than the lenient readers (openpyxl, LibreOffice): an element out of
CT_Worksheet's order or an unknown attribute gets a repair prompt. So each part is
validated against the schema of its content type, and its root element must be the one
that content type promises. The schemas are in tests/ooxml-xsd/ (see its README).
"""

import re
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree   # a test extra: pip install ".[test]"

from book_matrix import matrix_books

SCHEMAS = Path(__file__).resolve().parent / "ooxml-xsd"
# schemas import these by web address; the tests run offline, with the copies beside them
SCHEMA_ADDRESSES = {
    "http://www.w3.org/2001/03/xml.xsd": "xml.xsd",
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
    "http://dublincore.org/schemas/xmls/qdc/2003/04/02/dc.xsd": "dc.xsd",
    "http://dublincore.org/schemas/xmls/qdc/2003/04/02/dcterms.xsd": "dcterms.xsd",
}

SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE = "application/vnd.openxmlformats-officedocument"
# content type -> (entry-point schema, root element the part must have)
CONTENT_TYPES = {
    f"{OFFICE}.spreadsheetml.sheet.main+xml": ("sml.xsd", f"{{{SML}}}workbook"),
    f"{OFFICE}.spreadsheetml.worksheet+xml": ("sml.xsd", f"{{{SML}}}worksheet"),
    f"{OFFICE}.spreadsheetml.styles+xml": ("sml.xsd", f"{{{SML}}}styleSheet"),
    f"{OFFICE}.spreadsheetml.sharedStrings+xml": ("sml.xsd", f"{{{SML}}}sst"),
    f"{OFFICE}.drawing+xml": ("dml-spreadsheetDrawing.xsd",
                              "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}wsDr"),
    f"{OFFICE}.drawingml.chart+xml": ("dml-chart.xsd",
                                      "{http://schemas.openxmlformats.org/drawingml/2006/chart}chartSpace"),
    f"{OFFICE}.theme+xml": ("dml-main.xsd", "{http://schemas.openxmlformats.org/drawingml/2006/main}theme"),
    f"{OFFICE}.extended-properties+xml": (
        "shared-documentPropertiesExtended.xsd",
        "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}Properties"),
    "application/vnd.openxmlformats-package.core-properties+xml": (
        "opc-coreProperties.xsd",
        "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}coreProperties"),
    "application/vnd.openxmlformats-package.relationships+xml": (
        "opc-relationships.xsd", "{http://schemas.openxmlformats.org/package/2006/relationships}Relationships"),
}
CONTENT_TYPES_PART = "[Content_Types].xml"
CONTENT_TYPES_SCHEMA = ("opc-contentTypes.xsd", "{http://schemas.openxmlformats.org/package/2006/content-types}Types")
CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


class _Offline(etree.Resolver):
    def resolve(self, url, pubid, context):
        name = SCHEMA_ADDRESSES.get(url, url.rsplit("/", 1)[-1])
        if not (SCHEMAS / name).is_file():
            raise AssertionError(f"schema {url} is imported but not in {SCHEMAS}; copy it there (see README)")
        return self.resolve_filename(str(SCHEMAS / name), context)


@lru_cache(maxsize=None)
def schema(entry):
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_Offline())
    return etree.XMLSchema(etree.parse(str(SCHEMAS / entry), parser))


def content_types(package):
    """{part name: content type}, from the Default (by extension) and Override entries."""
    root = etree.fromstring(package.read(CONTENT_TYPES_PART))
    defaults = {d.get("Extension").lower(): d.get("ContentType") for d in root.iter(f"{CT}Default")}
    overrides = {o.get("PartName").lstrip("/"): o.get("ContentType") for o in root.iter(f"{CT}Override")}
    return {name: overrides.get(name, defaults.get(name.rsplit(".", 1)[-1].lower()))
            for name in package.namelist() if not name.endswith("/") and name != CONTENT_TYPES_PART}


def allow_excels_own_exception(doc):
    """Drop xml:space="preserve" from SpreadsheetML <t> elements before validating.

    The schema types <t> as a plain string (ST_Xstring) with no attributes, yet without
    xml:space="preserve" a reader may trim a text's leading and trailing spaces. Excel
    itself writes the attribute on <t>, and every reader expects it; it is the one
    documented exception. Only that attribute on that element is dropped, and only with
    that value, so anything else still fails.
    """
    for t in doc.iter(f"{{{SML}}}t"):
        if t.get(XML_SPACE) == "preserve":
            del t.attrib[XML_SPACE]
    return doc


def problems_of(path):
    """One line per schema error or unexpected part of the workbook at ``path``."""
    problems = []
    with zipfile.ZipFile(path) as package:
        parts = {CONTENT_TYPES_PART: CONTENT_TYPES_SCHEMA}
        for name, kind in content_types(package).items():
            if kind in CONTENT_TYPES:
                parts[name] = CONTENT_TYPES[kind]
            elif kind is None or not re.fullmatch(r"image/(png|jpeg|gif)", kind):
                problems.append(f"{name}: content type {kind} has no schema here; add one to CONTENT_TYPES")
        for name, (entry, root) in sorted(parts.items()):
            doc = allow_excels_own_exception(etree.fromstring(package.read(name)))
            if doc.tag != root:
                problems.append(f"{name}: root element {doc.tag}, expected {root}")
            validator = schema(entry)
            if not validator.validate(doc):
                problems.extend(f"{name} (line {e.line}): {e.message}" for e in list(validator.error_log)[:5])
    return problems


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    return matrix_books(tmp_path_factory)


def test_every_part_of_every_workbook_is_schema_valid(books):
    problems = {name: problems_of(path) for name, path in books.items()}
    assert not any(problems.values()), {name: found for name, found in problems.items() if found}


def test_every_xml_part_gets_a_schema(books):
    """Nothing slips through unvalidated: every part but the pictures is XML with a schema."""
    with zipfile.ZipFile(books["backprop"]) as package:
        kinds = content_types(package)
    assert {kinds[name] for name in kinds if not name.startswith("xl/media/")} <= set(CONTENT_TYPES)
    assert any(name.startswith("xl/charts/") for name in kinds) and any(name.startswith("xl/drawings/") for name in kinds)


def test_the_validator_catches_what_excel_would_repair(books, tmp_path):
    """Schema errors Excel repairs are caught: an element out of order, an unknown attribute, stray xml:space."""
    source = books["default"]
    breakages = {
        "out-of-order.xlsx": ("xl/worksheets/sheet2.xml", rb"(<dimension [^>]*/>)(.*?)(</worksheet>)", rb"\2\1\3"),
        "unknown-attribute.xlsx": ("xl/worksheets/sheet2.xml", rb'<c r="A1"', rb'<c r="A1" q="1"'),
        "space-on-c.xlsx": ("xl/worksheets/sheet2.xml", rb'<c r="A1"', rb'<c xml:space="preserve" r="A1"'),
        "bad-chart.xlsx": ("xl/charts/chart1.xml", rb"<plotArea>", rb"<plotArea><bogus/>"),
        "bad-core.xlsx": ("docProps/core.xml", rb"</cp:coreProperties>", rb"<cp:bogus/></cp:coreProperties>"),
        "bad-types.xlsx": (CONTENT_TYPES_PART, rb"</Types>", rb"<Bogus/></Types>"),
    }
    assert problems_of(source) == []
    for broken, (part, pattern, replacement) in breakages.items():
        target = tmp_path / broken
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
            for item in old.infolist():
                data = old.read(item.filename)
                if item.filename == part:
                    data, count = re.subn(pattern, replacement, data, count=1, flags=re.S)
                    assert count == 1, (broken, part)
                new.writestr(item, data)
        assert any(line.startswith(part) for line in problems_of(target)), broken
