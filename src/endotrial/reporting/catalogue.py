"""Keep the report's translation catalogue in step with the code: `python -m
endotrial.reporting.catalogue update` extracts the report's messages (`t("...")` and
`N_("...")` in endotrial/reporting, Babel's Python extractor) and merges them into each
language's `report.po` (new messages untranslated, changed ones fuzzy); `check` lists what a
catalogue lacks (the test suite checks the same). The web's catalogue is separate
(endotrial.web.catalogue, domain `messages`)."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from endotrial.reporting import i18n

REPORTING_DIR = Path(__file__).parent
_METHODS = [("**.py", "python")]
#: `t(message, **params)`: the translator's call; `N_`: a message marked where it is defined.
_KEYWORDS = {"t": None, "N_": None}


def extracted() -> Catalog:
    """Every message the report can show, as a catalogue template."""
    template = Catalog(project="endotrial", fuzzy=False)
    for filename, line, message, comments, context in extract_from_dir(
        REPORTING_DIR, method_map=_METHODS, keywords=_KEYWORDS
    ):
        template.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return template


def po_path(language: str) -> Path:
    folder = i18n.LANGUAGES[language][0]
    return i18n.LOCALE_DIR / folder / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def translated_languages() -> list[str]:
    return [code for code in i18n.LANGUAGES if code != i18n.DEFAULT_LANGUAGE]


def read_catalogue(language: str) -> Catalog:
    path = po_path(language)
    if not path.is_file():
        return Catalog(locale=i18n.LANGUAGES[language][0], project="endotrial")
    with path.open("rb") as source:
        return read_po(source, locale=i18n.LANGUAGES[language][0])


def update() -> None:
    template = extracted()
    for language in translated_languages():
        catalogue = read_catalogue(language)
        catalogue.update(template, update_creation_date=False)
        po_path(language).parent.mkdir(parents=True, exist_ok=True)
        with po_path(language).open("wb") as target:
            write_po(target, catalogue, width=100, ignore_obsolete=True, include_previous=True)


def missing(language: str) -> list[str]:
    """The report's messages that `language`'s catalogue does not translate (absent, empty
    or fuzzy)."""
    catalogue = read_catalogue(language)
    done = {str(m.id) for m in catalogue if m.id and not m.fuzzy and m.string}
    return [str(m.id) for m in extracted() if m.id and str(m.id) not in done]


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    if argv[:1] == ["check"]:
        lacking = [f"{lang}: {m}" for lang in translated_languages() for m in missing(lang)]
        print("\n".join(lacking) or "every message is translated")
        return 1 if lacking else 0
    print("usage: python -m endotrial.reporting.catalogue update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
