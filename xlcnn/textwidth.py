"""Text laid out in columns on a terminal, where a Chinese character takes two columns.

``len`` counts characters; a terminal draws wide (East Asian "W" and "F") characters
twice as wide as Latin ones, so tables and wrapped paragraphs use ``display_width``.
"""

import unicodedata


def display_width(text):
    """Columns ``text`` takes on a terminal: 2 for each wide character, 0 for combining marks, else 1."""
    return sum(_char_width(ch) for ch in text)


def ljust(text, width):
    return text + " " * max(0, width - display_width(text))


def rjust(text, width):
    return " " * max(0, width - display_width(text)) + text


def wrap(text, width, indent=""):
    """Lines of at most ``width`` columns (indent included): break at spaces, or between wide characters."""
    lines, line = [], indent
    for word in _words(text):
        if display_width(line) + display_width(word) > width and line.strip():
            lines.append(line.rstrip())
            line = indent
            word = word.lstrip()
        line += word if line.strip() or not word.isspace() else ""
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _char_width(ch):
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _words(text):
    """Pieces that must stay on one line: a Latin word with the space before it, or one wide character."""
    word = ""
    for ch in text:
        if _char_width(ch) == 2:
            if word:
                yield word
            yield ch
            word = ""
        elif ch == " " and word.strip():
            yield word
            word = ch
        else:
            word += ch
    if word:
        yield word
