"""Java regular expressions (the ``pattern`` of AWS's API models) as Python ``regex`` patterns with Java's meaning.

AWS validates a request's strings with ``java.util.regex``: the whole value must match (``Matcher.matches``), and
several constructs mean something else than in Python. The ``regex`` package understands Unicode properties
(``\\p{L}``, ``\\p{Z}``, ``\\p{N}``) and nested character classes (its ``V1`` mode, as Java does); this module
rewrites the rest before compiling:

* ``\\d``, ``\\w``, ``\\s`` and their negations are ASCII-only in Java (Unicode in Python);
* the POSIX classes ``\\p{Alnum}``, ``\\p{Punct}``, ``\\p{Print}``... are ASCII-only in Java;
* ``.`` does not match Java's line terminators (``\\n``, ``\\r``, U+0085, U+2028, U+2029) unless ``(?s)``;
* ``\\x{h...}`` and surrogate pairs written as two ``\\uXXXX`` escapes denote one code point;
* ``\\Q...\\E`` quotes, ``\\z`` is the end of input, ``\\h`` and ``\\v`` are whitespace classes;
* ``--``, ``||`` and ``~~`` inside a class are set operators in ``V1`` but literal characters in Java.

:func:`compile_java` returns ``None`` for a pattern Java itself would refuse or that has no translation (a few of
the thousands in botocore's models; see ``tests/emulator/test_constraints.py``), so that a caller can skip it
rather than refuse valid requests.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import regex

_PUNCT = r"!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~"
# Java's ASCII-only POSIX classes (and two Java-only names), as the body of a character class.
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": r"\x00-\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": _PUNCT,
    "Graph": r"a-zA-Z0-9" + _PUNCT,
    "Print": r"\x20-\x7E",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1F\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0B\f\r",
    "all": r"\x00-\U0010ffff",
    "LD": r"\p{L}\p{Nd}",  # Character.isLetterOrDigit
}
_SHORTHAND = {"d": "0-9", "w": "a-zA-Z_0-9", "s": r" \t\n\x0B\f\r"}
_HORIZONTAL = r" \t\xA0\u1680\u180E\u2000-\u200A\u202F\u205F\u3000"
_VERTICAL = r"\n\x0B\f\r\x85\u2028\u2029"
_NOT_LINE_TERMINATOR = r"[^\n\r\x85\u2028\u2029]"
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_V1_OPERATOR_CHARS = "-|~"


def _set(body: str, negated: bool = False) -> str:
    # In V1 a nested [...] inside a class is a union member, so the same text works inside and outside a class.
    return f"[{'^' if negated else ''}{body}]"


def _code_point(value: int) -> str:
    return f"\\U{value:08x}"


def translate(pattern: str) -> str:
    """``pattern`` (Java syntax) rewritten for ``regex`` in V1 mode with Java's meaning; raises ``ValueError``
    for constructs that have no translation."""
    out: list[str] = []
    depth = 0  # character class nesting
    dotall = "(?s" in pattern
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                raise ValueError("pattern ends with a lone backslash")
            token, i = _escape(pattern, i)
            out.append(token)
            continue
        if char == "[":
            depth += 1
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ] is literal, as in Java
                out.append(r"\]")
                i += 1
            continue
        if char == "]" and depth:
            depth -= 1
        elif char == "." and not depth and not dotall:
            out.append(_NOT_LINE_TERMINATOR)
            i += 1
            continue
        elif depth and char in _V1_OPERATOR_CHARS and out and out[-1] == char:
            out.append("\\" + char)  # Java has no --, || or ~~ set operators: keep them literal
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


# Escapes whose translation does not depend on what follows them.
_SIMPLE_ESCAPES = {
    **{kind: _set(body) for kind, body in _SHORTHAND.items()},
    **{kind.upper(): _set(body, negated=True) for kind, body in _SHORTHAND.items()},
    "z": r"\Z",
    "h": _set(_HORIZONTAL),
    "H": _set(_HORIZONTAL, negated=True),
    "v": _set(_VERTICAL),
    "V": _set(_VERTICAL, negated=True),
}


def _escape(pattern: str, i: int) -> tuple[str, int]:
    """The translation of the escape starting at ``pattern[i]`` (a backslash), and the index after it."""
    kind = pattern[i + 1]
    if kind in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[kind], i + 2
    translate_escape = _ESCAPES_WITH_ARGUMENTS.get(kind)
    translated = translate_escape(pattern, i) if translate_escape else None
    # Anything else means the same in both dialects (or is refused by regex at compile time).
    return translated or (pattern[i : i + 2], i + 2)


def _property_escape(pattern: str, i: int) -> tuple[str, int] | None:
    r"""``\p{Name}`` / ``\P{Name}``: Java's POSIX names become classes; Unicode properties pass through."""
    if not pattern.startswith("{", i + 2):
        return None
    end = pattern.index("}", i + 2)
    name = pattern[i + 3 : end]
    if name in _POSIX:
        return _set(_POSIX[name], negated=pattern[i + 1] == "P"), end + 1
    return pattern[i : end + 1], end + 1


def _utf16_escape(pattern: str, i: int) -> tuple[str, int] | None:
    r"""``\uXXXX``, where a high surrogate followed by ``\uXXXX`` low surrogate is one code point (UTF-16)."""
    if not _HEX4.fullmatch(pattern, i + 2, i + 6):
        return None
    high = int(pattern[i + 2 : i + 6], 16)
    if 0xD800 <= high <= 0xDBFF and pattern.startswith("\\u", i + 6) and _HEX4.fullmatch(pattern, i + 8, i + 12):
        low = int(pattern[i + 8 : i + 12], 16)
        if 0xDC00 <= low <= 0xDFFF:
            return _code_point(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)), i + 12
    return _code_point(high), i + 6


def _code_point_escape(pattern: str, i: int) -> tuple[str, int] | None:
    r"""``\x{h...h}``: a code point in hex."""
    if not pattern.startswith("{", i + 2):
        return None
    end = pattern.index("}", i + 2)
    return _code_point(int(pattern[i + 3 : end], 16)), end + 1


def _quote_escape(pattern: str, i: int) -> tuple[str, int]:
    r"""``\Q...\E``: everything between is literal (to the end of the pattern without ``\E``)."""
    end = pattern.find("\\E", i + 2)
    literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
    return regex.escape(literal), (len(pattern) if end < 0 else end + 2)


_ESCAPES_WITH_ARGUMENTS: dict[str, Callable[[str, int], tuple[str, int] | None]] = {
    "p": _property_escape,
    "P": _property_escape,
    "u": _utf16_escape,
    "x": _code_point_escape,
    "Q": _quote_escape,
}


@functools.cache
def compile_java(pattern: str) -> Any:
    """The compiled ``regex`` for a Java ``pattern`` (match with ``fullmatch``), or ``None`` when it has no
    faithful translation."""
    try:
        return regex.compile(translate(pattern), flags=regex.V1)
    except (ValueError, IndexError, regex.error):
        return None


def matches(pattern: str, value: str) -> bool | None:
    """Whether ``value`` matches ``pattern`` the way Java's ``Matcher.matches`` does; ``None`` when unknown."""
    compiled = compile_java(pattern)
    if compiled is None:
        return None
    return compiled.fullmatch(value) is not None
