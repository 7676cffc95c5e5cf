"""Gettext catalogs of the pages: Vietnamese is the source language, English a translation.

A message id is the Vietnamese text itself, so Vietnamese needs no catalog and a message missing
from the English catalog still shows in Vietnamese. Each package that renders pages keeps its
English catalog as ``<package>/locale/en/LC_MESSAGES/messages.po``; it is read with Babel when
first used, so no compiled ``.mo`` is built or committed. ``tools/catalogs.py check`` (in
``make lint``) fails when a message of the code or templates is missing from its catalog.
"""

from __future__ import annotations

import copy
import gettext
import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("vi", "en")
SOURCE_LOCALE = "vi"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a message for the catalog; it is translated where it is shown."""
    return message


def pgettext_noop(context: str, message: str) -> str:
    """Mark a message and its context for the catalog; it is translated where it is shown."""
    return message


def catalog_path(locale: str) -> str:
    """Where a package keeps a locale's catalog, relative to the package."""
    return f"locale/{locale}/LC_MESSAGES/{DOMAIN}.po"


@cache
def _package_translations(package: str, locale: str) -> gettext.NullTranslations:
    if locale == SOURCE_LOCALE:
        return gettext.NullTranslations()
    source = resources.files(package).joinpath(catalog_path(locale))
    with source.open("rb") as po:
        messages = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@cache
def translations(locale: str, *packages: str) -> gettext.NullTranslations:
    """The translations of ``locale``: the first package's catalog, then the next ones'."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}")
    chain = [_copy(_package_translations(p, locale)) for p in packages]
    if not chain:
        return gettext.NullTranslations()
    for earlier, later in zip(chain, chain[1:], strict=False):
        earlier.add_fallback(later)
    return chain[0]


def _copy(found: gettext.NullTranslations) -> gettext.NullTranslations:
    # add_fallback mutates; each chain gets its own copy of a package's catalog.
    return copy.copy(found)
