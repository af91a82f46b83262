"""What the web's and the report's Babel catalogue tools share: extracting a template,
merging it into each language's `.po` file, listing what a catalogue lacks, and the
`update | check` command line (`python -m endotrial.web.catalogue`, `... .reporting.catalogue`).

Each tool says only where its messages come from (`Catalogues.extracted`) and where its `.po`
files lie; merged files keep no previous msgids (translators overwrite a fuzzy guess anyway).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po


def extract_template(
    folder: Path,
    method_map: Sequence[tuple[str, str]],
    *,
    options_map: Mapping[str, dict[str, Any]] | None = None,
    keywords: Mapping[str, Any] | None = None,
) -> Catalog:
    """The messages Babel's extractors find under `folder`, as a catalogue template."""
    template = Catalog(project="endotrial", fuzzy=False)
    for filename, line, message, comments, context in extract_from_dir(
        folder,
        method_map=method_map,
        options_map=options_map or {},
        keywords=DEFAULT_KEYWORDS if keywords is None else keywords,
    ):
        template.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return template


@dataclass(frozen=True)
class Catalogues:
    """One translation domain: its template and a `.po` file per translated language."""

    command: str
    extracted: Callable[[], Catalog]
    po_path: Callable[[str], Path]
    locale_of: Callable[[str], str]
    languages: Iterable[str]

    def read(self, language: str) -> Catalog:
        path = self.po_path(language)
        if not path.is_file():
            return Catalog(locale=self.locale_of(language), project="endotrial")
        with path.open("rb") as source:
            return read_po(source, locale=self.locale_of(language))

    def update(self) -> None:
        template = self.extracted()
        for language in self.languages:
            catalogue = self.read(language)
            catalogue.update(template, update_creation_date=False)
            path = self.po_path(language)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as target:
                write_po(target, catalogue, width=100, ignore_obsolete=True)

    def missing(self, language: str, *, page_messages_only: bool = False) -> list[str]:
        """The extracted messages `language`'s catalogue does not translate (absent, empty
        or fuzzy), as `context|message`; with `page_messages_only`, those without a context."""
        done = {_key(m) for m in self.read(language) if m.id and not m.fuzzy and _done(m.string)}
        return [
            f"{message.context or ''}|{_key(message)[0]}"
            for message in self.extracted()
            if message.id
            and not (page_messages_only and message.context is not None)
            and _key(message) not in done
        ]

    def main(self, argv: list[str]) -> int:
        if argv[:1] == ["update"]:
            self.update()
            return 0
        if argv[:1] == ["check"]:
            lacking = [f"{lang}: {m}" for lang in self.languages for m in self.missing(lang)]
            print("\n".join(lacking) or "every message is translated")
            return 1 if lacking else 0
        print(f"usage: python -m {self.command} update|check", file=sys.stderr)
        return 2


def _key(message: object) -> tuple[str, str | None]:
    msgid = getattr(message, "id")  # noqa: B009
    text = msgid[0] if isinstance(msgid, tuple | list) else msgid
    return str(text), getattr(message, "context")  # noqa: B009


def _done(text: object) -> bool:
    """Translated: every form of a plural, or the one string."""
    if isinstance(text, tuple | list):
        return all(text)
    return bool(text)
