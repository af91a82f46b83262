"""Keep the translation catalogues in step with the code: `python -m endotrial.web.catalogue
update` extracts the pages' messages (Babel's Python and Jinja2 extractors) and the error
messages (the services' and the web's, each with its code as context) and merges them into
each language's `.po` file (new messages untranslated, changed ones fuzzy); `check` lists what
a catalogue lacks (the test suite runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from endotrial.services.messages import MESSAGES
from endotrial.web import i18n

WEB_DIR = Path(__file__).parent
_METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
_OPTIONS = {
    "templates/**.html": {
        "extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"
    },
}  # fmt: skip


def extracted() -> Catalog:
    """Every message the web can show, as a catalogue template."""
    template = Catalog(project="endotrial", fuzzy=False)
    for filename, line, message, comments, context in extract_from_dir(
        WEB_DIR, method_map=_METHODS, options_map=_OPTIONS
    ):
        template.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    for code, text in {**MESSAGES, **i18n.WEB_MESSAGES}.items():
        template.add(text, None, [], auto_comments=[f"error code {code}"], context=code)
    return template


def po_path(language: str) -> Path:
    return i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def translated_languages() -> list[str]:
    return [code for code in i18n.LANGUAGES if code != i18n.DEFAULT_LANGUAGE]


def read_catalogue(language: str) -> Catalog:
    path = po_path(language)
    if not path.is_file():
        return Catalog(locale=language, project="endotrial")
    with path.open("rb") as source:
        return read_po(source, locale=language)


def update() -> None:
    template = extracted()
    for language in translated_languages():
        catalogue = read_catalogue(language)
        catalogue.update(template, update_creation_date=False)
        po_path(language).parent.mkdir(parents=True, exist_ok=True)
        with po_path(language).open("wb") as target:
            write_po(target, catalogue, width=100, ignore_obsolete=True, include_previous=True)


def _key(message: object) -> tuple[str, str | None]:
    msgid = getattr(message, "id")  # noqa: B009
    text = msgid[0] if isinstance(msgid, tuple | list) else msgid
    return str(text), getattr(message, "context")  # noqa: B009


def _translated(text: object) -> bool:
    if isinstance(text, tuple | list):
        return all(text)
    return bool(text)


def missing(language: str, *, page_messages_only: bool = False) -> list[str]:
    """The messages of the code that `language`'s catalogue does not translate (absent,
    empty or fuzzy); the pages' own messages alone when asked (errors may fall back to
    English)."""
    catalogue = read_catalogue(language)
    done = {_key(m) for m in catalogue if m.id and not m.fuzzy and _translated(m.string)}
    lacking = []
    for message in extracted():
        if not message.id or (page_messages_only and message.context is not None):
            continue
        if _key(message) not in done:
            lacking.append(f"{message.context or ''}|{_key(message)[0]}")
    return lacking


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    if argv[:1] == ["check"]:
        lacking = [f"{lang}: {m}" for lang in translated_languages() for m in missing(lang)]
        print("\n".join(lacking) or "every message is translated")
        return 1 if lacking else 0
    print("usage: python -m endotrial.web.catalogue update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
