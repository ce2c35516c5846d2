"""The Chinese catalogue is complete, compiled, and covers every translatable source string."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

SRC = Path(__file__).resolve().parents[2] / "src" / "tongban"
LOCALE = SRC / "locale" / "zh_Hans" / "LC_MESSAGES"
VENDOR = SRC / "locale_vendor" / "zh_Hans" / "LC_MESSAGES"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
}


def _hashable(value):
    return value if isinstance(value, str) else tuple(value)


def _catalog(directory: Path = LOCALE):
    with (directory / "django.po").open("rb") as handle:
        return read_po(handle)


@pytest.mark.parametrize("directory", [LOCALE, VENDOR], ids=["own", "vendor"])
def test_every_entry_is_translated_and_not_fuzzy(directory: Path) -> None:
    catalog = _catalog(directory)
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated
    assert not fuzzy


@pytest.mark.parametrize("directory", [LOCALE, VENDOR], ids=["own", "vendor"])
def test_the_compiled_file_matches_the_source(directory: Path) -> None:
    def entries(messages):
        # Plural entries carry tuples of ids and lists of strings.
        return {_hashable(m.id): _hashable(m.string) for m in messages if m.id}

    with (directory / "django.mo").open("rb") as handle:
        compiled = entries(read_mo(handle))
    source = entries(_catalog(directory))
    assert compiled == source, "run `make messages` to recompile django.mo"


def test_every_python_string_marked_for_translation_is_in_the_catalogue() -> None:
    catalog = _catalog()
    known = {m.id for m in catalog if m.id}
    missing = sorted(
        {
            message if isinstance(message, str) else message[0]
            for _filename, _lineno, message, _comments, _context in extract_from_dir(
                str(SRC),
                method_map=[("**/migrations/**.py", "ignore"), ("**.py", "python")],
                keywords=KEYWORDS,
            )
        }
        - known
    )
    assert not missing, f"untranslated strings, run `make messages`: {missing}"
