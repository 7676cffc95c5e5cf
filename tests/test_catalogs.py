"""Every message of the pages is in the English catalog, and a missing one fails the check."""

import shutil
from pathlib import Path

import pytest

from core.i18n import translations
from tools import catalogs

ROOT = Path(__file__).resolve().parent.parent


def copy_tree(tmp_path: Path) -> Path:
    for package in catalogs.PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package)
    return tmp_path


@pytest.mark.parametrize("package", catalogs.PACKAGES)
def test_every_message_of_the_pages_is_translated(package: str) -> None:
    assert catalogs.problems(package) == []


def test_a_message_missing_from_the_catalog_fails_the_check(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    page = root / "registry" / "portal" / "templates" / "record.html"
    page.write_text(page.read_text() + '<p>{{ _("Một câu chưa dịch") }}</p>\n')
    found = catalogs.problems("registry", root)
    assert len(found) == 1
    assert "missing 'Một câu chưa dịch'" in found[0]
    assert "registry/portal/templates/record.html" in found[0]


def test_a_bare_percent_sign_fails_the_check(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    page = root / "identity" / "templates" / "error.html"
    page.write_text(page.read_text() + '<p>{{ _("Giảm 5% phí") }}</p>\n')
    assert [line for line in catalogs.problems("identity", root) if "a bare %" in line]


def test_a_message_marked_in_python_is_checked_too(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    module = root / "identity" / "web.py"
    module.write_text(module.read_text() + 'EXTRA = N_("Một câu nữa")\n')
    assert [line for line in catalogs.problems("identity", root) if "Một câu nữa" in line]


def test_an_untranslated_or_stale_entry_fails_the_check(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    path = catalogs.catalog_file("identity", root)
    text = path.read_text()
    text = text.replace('msgstr "Sign in"', 'msgstr ""', 1)
    text += '\nmsgid "Không còn dùng"\nmsgstr "No longer used"\n'
    path.write_text(text)
    found = catalogs.problems("identity", root)
    assert any("not translated 'Đăng nhập'" in line for line in found)
    assert any("stale 'Không còn dùng'" in line for line in found)


def test_english_comes_from_the_catalogs_and_vietnamese_is_the_message_itself() -> None:
    english = translations("en", "registry", "identity")
    assert english.gettext("Đăng nhập") == "Sign in"  # identity's catalog, through the chain
    assert english.pgettext("audit action", "Đăng nhập") == "Sign-in"
    assert english.gettext("Hồ sơ của tôi") == "My record"
    assert translations("vi", "registry", "identity").gettext("Hồ sơ của tôi") == "Hồ sơ của tôi"
