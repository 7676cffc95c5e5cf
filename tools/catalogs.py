"""The pages' gettext catalogs: extract their messages, update the English catalogs, check them.

    python tools/catalogs.py update   # after changing a page's text: new messages get an empty
                                      # msgstr to translate, gone ones are dropped
    python tools/catalogs.py check    # make lint: every message translated, none stale

Vietnamese is the source language: the msgids are the Vietnamese text (core/i18n.py).
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
# Each package with pages keeps its own catalog (a package never reads one above it).
PACKAGES = ("identity", "registry")
LOCALE = "en"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
# Templates call _(), gettext() and pgettext() as gettext does. Python marks messages with
# N_() and pgettext_noop(), and translates with gettext(locale, message) and
# pgettext(locale, context, message) (identity.web, registry.portal.web).
PYTHON_KEYWORDS = {
    "N_": None,
    "pgettext_noop": ((1, "c"), 2),
    "gettext": (2,),
    "pgettext": ((2, "c"), 3),
}
JINJA_KEYWORDS = {"_": None, "gettext": None, "pgettext": ((1, "c"), 2)}
BARE_PERCENT = re.compile(r"%(?!\([a-z_]+\)[sd])")
HEADER = (
    "# The national registry's pages in English. Vietnamese is the source language: each msgid\n"
    "# is the Vietnamese text. Update with `python tools/catalogs.py update`, then translate."
)


def catalog_file(package: str, root: Path = ROOT) -> Path:
    """The package's English catalog."""
    return root / package / "locale" / LOCALE / "LC_MESSAGES" / "messages.po"


def extract(package: str, root: Path = ROOT) -> Catalog:
    """Every message the package's code and templates mark, as a template catalog."""
    found = Catalog(project="national-registry", charset="utf-8")
    for method, keywords in (("jinja2", JINJA_KEYWORDS), ("python", PYTHON_KEYWORDS)):
        mapping = [(pattern, m) for pattern, m in METHODS if m == method]
        options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
        for filename, lineno, message, _comments, context in extract_from_dir(
            root / package, method_map=mapping, options_map=options, keywords=keywords
        ):
            path = f"{package}/{filename}"
            found.add(message, locations=[(path, lineno)], context=context)
    return found


def read(package: str, root: Path = ROOT) -> Catalog:
    """The package's English catalog as committed (empty if it has none yet)."""
    path = catalog_file(package, root)
    if not path.exists():
        return Catalog(locale=LOCALE, project="national-registry", charset="utf-8")
    with path.open("rb") as po:
        return read_po(po, locale=LOCALE)


def write(package: str, catalog: Catalog) -> None:
    """Write the catalog the one way (no line numbers, so moving code changes nothing)."""
    catalog.header_comment = HEADER
    catalog.fuzzy = False
    out = io.BytesIO()
    write_po(out, catalog, width=100, include_lineno=False, ignore_obsolete=True, omit_header=False)
    path = catalog_file(package)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())


def update() -> None:
    """Bring each English catalog to the messages of the code: add new ones, drop gone ones."""
    for package in PACKAGES:
        catalog = read(package)
        created = catalog.creation_date
        catalog.update(extract(package), no_fuzzy_matching=True)
        catalog.creation_date = created  # the header changes only when a message does
        write(package, catalog)


def problems(package: str, root: Path = ROOT) -> list[str]:
    """What is wrong with the package's English catalog, one line each."""
    wanted = extract(package, root)
    catalog = read(package, root)
    path = catalog_file(package, root).relative_to(root)
    found: list[str] = []
    for message in wanted:
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        where = ", ".join(f"{path}:{line}" for path, line in message.locations)
        if entry is None:
            found.append(f"{path}: missing {message.id!r} ({where})")
        elif not entry.string or entry.fuzzy:
            found.append(f"{path}: not translated {message.id!r} ({where})")
        if isinstance(message.id, str) and BARE_PERCENT.search(message.id.replace("%%", "")):
            # Jinja's newstyle gettext formats every message with %: a bare one breaks the page.
            found.append(f"{path}: a bare % in {message.id!r} (write %% or %(name)s)")
    wanted_keys = {(m.id, m.context) for m in wanted if m.id}
    for entry in catalog:
        if entry.id and (entry.id, entry.context) not in wanted_keys:
            found.append(f"{path}: stale {entry.id!r} (no code uses it)")
    return found


def main(argv: list[str]) -> int:
    """update or check."""
    if argv[1:] == ["update"]:
        update()
        return 0
    if argv[1:] == ["check"]:
        found = [line for package in PACKAGES for line in problems(package)]
        for line in found:
            sys.stderr.write(line + "\n")
        if found:
            sys.stderr.write("Run `python tools/catalogs.py update`, then translate.\n")
        return 1 if found else 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
