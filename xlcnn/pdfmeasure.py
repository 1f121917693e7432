"""What a printed handout looks like, measured from the PDF with poppler-utils (pdftotext).

Used by the tests and the benchmarks: pages, the smallest printed type, and the text.
"""

import html
import re
import shutil
import subprocess
from dataclasses import dataclass

from .errors import EngineMissingError

# pdftotext -bbox gives each word's box; poppler makes it (ascent - descent) x the type
# size, and for the fonts LibreOffice embeds (no ascent or descent in their descriptors)
# it uses its defaults 0.95 and -0.35: the box is 1.3 x the size. tests/test_handout.py
# checks this on cells of known size.
BOX_PER_POINT = 1.3
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')


@dataclass
class PrintedPage:
    words: list          # (text, type size in points)
    size: tuple = (0.0, 0.0)   # width, height in points

    @property
    def text(self):
        return " ".join(word for word, _ in self.words)

    @property
    def smallest(self):
        return min((size for _, size in self.words), default=None)


def measure_pdf(path):
    """The pages of a PDF with every word and its type size."""
    tool = shutil.which("pdftotext")
    if tool is None:
        raise EngineMissingError("poppler-utils is needed to measure a PDF; install it with: apt-get install poppler-utils")
    html = subprocess.run([tool, "-bbox", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = []
    for width, height, page in _PAGE.findall(html):
        words = [(_unescape(text), (float(y1) - float(y0)) / BOX_PER_POINT)
                 for _, y0, _, y1, text in _WORD.findall(page)]
        pages.append(PrintedPage(words, (float(width), float(height))))
    return pages


def smallest_type(pages):
    """The smallest type size on any page, in points, rounded to 0.1."""
    sizes = [page.smallest for page in pages if page.smallest is not None]
    return round(min(sizes), 1) if sizes else None


def _unescape(text):
    return html.unescape(text)      # pdftotext writes &amp; &lt; &gt; &quot; &apos;
