"""Vietnamese personal names: the stored form (``normalize``) and the matching form (``fold``).

Stored names are NFC with single ASCII spaces and each syllable capitalised ("Nguyễn Thị Minh
Anh"); verification compares folded names ("nguyen thi minh anh") only where its rule says so.
Pure functions. Errors never repeat the input (it is personal data); they carry a stable
``reason`` and a fixed English message.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

import unicodedataplus

__all__ = [
    "MAX_LENGTH",
    "InvalidName",
    "NameParts",
    "Reason",
    "fold",
    "normalize",
    "normalize_and_fold",
    "normalize_fast",
    "split",
    "stored_form_letters",
]

MAX_LENGTH = 100  # characters of the normalised (NFC) name

Reason = Literal["empty", "too_long", "digits", "control", "character", "punctuation", "script"]

_MESSAGES: dict[Reason, str] = {
    "empty": "the name is empty",
    "too_long": f"the name must be at most {MAX_LENGTH} characters",
    "digits": "a name must not contain digits or other numerals",
    "control": "a name must not contain control or formatting characters",
    "character": "a name may hold only letters, combining marks, spaces, hyphens and apostrophes",
    "punctuation": "a hyphen or apostrophe must stand between two letters",
    "script": "a name must be written in one script",
}

# Typographic apostrophes and Unicode hyphens are stored as their ASCII forms.
_EQUIVALENTS = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-"})
_SEPARATORS = frozenset(" -'")
# Each part between separators is capitalised on its own: "Bru-Vân Kiều", "H'Hen Niê".
_PARTS = re.compile(r"([ \-'])")


class InvalidName(ValueError):
    """A name that the rules refuse; ``reason`` is a stable code."""

    def __init__(self, reason: Reason, message: str | None = None) -> None:
        self.reason: Reason = reason
        super().__init__(message or _MESSAGES[reason])

    def __reduce__(self) -> tuple[type[InvalidName], tuple[Reason, str]]:
        return type(self), (self.reason, str(self))


class NameParts(NamedTuple):
    """A full name split in Vietnamese order."""

    surname: str
    middle: str
    given: str


# Names repeat a great deal across a population, and bulk import normalises millions of them:
# a bounded cache of these pure functions roughly halves the cost of validating a row.
_CACHE_SIZE = 1 << 16


@functools.lru_cache(maxsize=_CACHE_SIZE)
def normalize(text: str) -> str:
    """The stored form: NFC, single ASCII spaces, each syllable capitalised ("Nguyễn Thị Anh")."""
    once = _normalize_once(text)
    # A few non-Vietnamese letters change again when re-capitalised (e.g. U+0149, whose title
    # case starts with an apostrophe); refuse them rather than store a form that is not stable.
    try:
        stable = _normalize_once(once) == once
    except InvalidName:
        stable = False
    if not stable:
        raise InvalidName("character", "the name holds a letter whose capitalisation is unstable")
    return once


@functools.lru_cache(maxsize=_CACHE_SIZE)
def fold(text: str) -> str:
    """The matching form: normalised, lower-case, without diacritics, đ -> d ("nguyen thi anh")."""
    lowered = unicodedata.normalize("NFD", normalize(text).lower())
    bare = "".join(ch for ch in lowered if not unicodedata.category(ch).startswith("M"))
    # đ has no decomposition (it is a letter of its own, not d + mark), so map it explicitly.
    bare = bare.replace("\u0111", "d")
    return unicodedata.normalize("NFC", " ".join(bare.split()))


def _plain_letters() -> tuple[str, str, dict[int, str]]:
    """Upper- and lower-case letters of Vietnamese (each one precomposed NFC code point), and
    the folded form of each: the tables of the fast path for names already in stored form."""
    upper, lower, folded = [], [], {}
    for base in "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz":
        for tone in ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"):
            small = unicodedata.normalize("NFC", base + tone)
            big = unicodedata.normalize("NFC", base.upper() + tone)
            if len(small) != 1 or len(big) != 1 or big.lower() != small:
                continue
            # Only letters that normalize keeps exactly as written: lower-case ones stay lower
            # case, an upper-case one is the title case of its lower case.
            if small.lower() != small or small.title() != big or big.title() != big:
                continue
            # fold, one letter at a time: decompose, drop the marks, đ -> d.
            decomposed = unicodedata.normalize("NFD", small)
            bare = "".join(ch for ch in decomposed if unicodedata.category(ch)[0] != "M")
            bare = bare.replace("\u0111", "d")
            if not (bare.isascii() and len(bare) == 1):
                continue
            lower.append(small)
            upper.append(big)
            folded[ord(small)] = folded[ord(big)] = bare
    return "".join(upper), "".join(lower), folded


_UPPER, _LOWER, _FOLD_TABLE = _plain_letters()
# A name already in stored form, written with Vietnamese letters only: each part is one capital
# then small letters, parts joined by one space, hyphen or apostrophe. Such a text is NFC (no
# combining marks), and _normalize_once returns it unchanged, so it is its own stored form.
_STORED_FORM = re.compile(f"[{_UPPER}][{_LOWER}]*(?:[ \\-'][{_UPPER}][{_LOWER}]*)*")


def stored_form_letters() -> tuple[str, str, Mapping[int, str]]:
    """The letters of the fast path for names already in stored form: upper case, lower case
    (each one precomposed NFC code point), and the folded form of each (by code point)."""
    return _UPPER, _LOWER, MappingProxyType(_FOLD_TABLE)


def normalize_and_fold(text: str) -> tuple[str, str]:
    """``(normalize(text), fold(normalize(text)))``, fast for a name already in stored form."""
    if len(text) <= MAX_LENGTH and _STORED_FORM.fullmatch(text):
        return text, text.translate(_FOLD_TABLE)
    name = normalize(text)
    return name, fold(name)


def normalize_fast(text: str) -> str:
    """``normalize(text)``, without the full work when ``text`` is already in stored form."""
    if len(text) <= MAX_LENGTH and _STORED_FORM.fullmatch(text):
        return text
    return normalize(text)


def split(full_name: str) -> NameParts:
    """Surname (first syllable), middle (the rest) and given name (last syllable).

    This is the Kinh order. It cannot see two-syllable surnames ("Tôn Thất", "Âu Dương") or
    clan names that come last (Ê Đê "H'Hen Niê"), so use it for display and test data only.
    A one-syllable name is all given name.
    """
    syllables = normalize(full_name).split(" ")
    if len(syllables) == 1:
        return NameParts("", "", syllables[0])
    return NameParts(syllables[0], " ".join(syllables[1:-1]), syllables[-1])


def _normalize_once(text: str) -> str:
    """NFC, collapse whitespace, check every character, capitalise each part, NFC again."""
    # str.split() with no argument splits on runs of any Unicode whitespace and drops the ends.
    name = " ".join(unicodedata.normalize("NFC", text).translate(_EQUIVALENTS).split())
    if not name:
        raise InvalidName("empty")
    previous = " "
    for ch in name:
        _check_character(ch, previous)
        previous = ch
    if name[-1] in _SEPARATORS:
        raise InvalidName("punctuation")
    _check_one_script(name)
    parts = _PARTS.split(name)
    # Odd indexes hold the separators; the parts are capitalised one by one (not str.title(),
    # which treats combining marks as word breaks and has no notion of syllables).
    for i in range(0, len(parts), 2):
        lowered = parts[i].lower()
        # title() of the first character, not upper(): "ǆ" -> "ǅ", "ß" -> "Ss".
        parts[i] = lowered[:1].title() + lowered[1:]
    name = unicodedata.normalize("NFC", "".join(parts))
    if len(name) > MAX_LENGTH:
        raise InvalidName("too_long")
    return name


def _check_character(ch: str, previous: str) -> None:
    """Refuse ``ch`` unless it may follow ``previous`` in a name."""
    if ch in _SEPARATORS:
        if previous in _SEPARATORS:
            raise InvalidName("punctuation")
        return
    category = unicodedata.category(ch)
    if category[0] == "L":
        return
    if category[0] == "M":
        if previous in _SEPARATORS:  # a mark must sit on a letter (or on another mark)
            raise InvalidName("character", "a combining mark must follow a letter")
        return
    if category[0] == "N":
        raise InvalidName("digits")
    if category in ("Cc", "Cf"):
        raise InvalidName("control")
    raise InvalidName("character")


# Unicode TS #39 5.1: a character of Common or Inherited script goes with every script, and
# the scripts written together in one language count as one: Han with Hiragana and Katakana
# (Japanese), with Hangul (Korean), with Bopomofo.
_ANY_SCRIPT = frozenset({"Zyyy", "Zinh"})
_AUGMENTED = {
    "Hani": ("Hanb", "Jpan", "Kore"),
    "Hira": ("Jpan",),
    "Kana": ("Jpan",),
    "Hang": ("Kore",),
    "Bopo": ("Hanb",),
}


def _check_one_script(name: str) -> None:
    """Refuse a name whose resolved script set is empty (TS #39 5.1, restriction level
    "single script"): "Nguyễn Vаn" with a Cyrillic а looks Latin but no Latin search finds it.
    The error names the first character that leaves no script in common, not the name."""
    resolved: set[str] | None = None
    for ch in name:
        scripts = set(unicodedataplus.script_extensions(ch))
        if scripts & _ANY_SCRIPT:
            continue
        for script in tuple(scripts):
            scripts.update(_AUGMENTED.get(script, ()))
        resolved = scripts if resolved is None else resolved & scripts
        if not resolved:
            what = unicodedata.name(ch, "")
            raise InvalidName(
                "script",
                f"a name must be written in one script: U+{ord(ch):04X} {what} is "
                "not of the script of the letters before it",
            )
