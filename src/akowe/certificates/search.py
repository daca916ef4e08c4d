"""Recipient search: names and emails as normalized words, matched by prefix.

A certificate's recipient name and email are split into words, each stripped of accents
(NFKD, combining marks dropped) and case-folded; every word is one `certificate_search_term`
row. A query is normalized the same way and each of its words must be the prefix of one of
the certificate's words ("ade" finds "Adéwálé Ògúnlé"). Prefixes are ranges over the
(account, mode, term) index, compared bytewise on both databases (binary collation on
SQLite, "C" on PostgreSQL), so a search reads index ranges, never every certificate.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_TERM = 200
MAX_QUERY_WORDS: Final = 8
_WORD = re.compile(r"\w+")


def normalize(text: str) -> str:
    """Accents stripped, case folded (compatibility forms unified: "ﬁ" is "fi")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", stripped.casefold())


def words(text: str) -> list[str]:
    """The normalized words of a text, in order, without duplicates."""
    return list(dict.fromkeys(w[:MAX_TERM] for w in _WORD.findall(normalize(text))))


def terms(name: str | None, email: str | None) -> list[str]:
    """What a certificate is found by: the words of its recipient's name and email."""
    return list(dict.fromkeys([*words(name or ""), *words(email or "")]))


def prefix_range(word: str) -> tuple[str, str]:
    """[low, high): every string that starts with `word` (code point order, which is UTF-8
    byte order, so the binary/"C" collations of the term column agree)."""
    last = ord(word[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000
    if last > 0x10FFFF:
        return word, word + "\U0010ffff"
    return word, word[:-1] + chr(last)
