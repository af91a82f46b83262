"""Keep the translation catalogues in step with the code: `python -m endotrial.web.catalogue
update` extracts the pages' messages (Babel's Python and Jinja2 extractors) and the error
messages (the services' and the web's, each with its code as context) and merges them into
each language's `.po` file (new messages untranslated, changed ones fuzzy); `check` lists what
a catalogue lacks (the test suite runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog

from endotrial.catalogues import Catalogues, extract_template
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
    template = extract_template(WEB_DIR, _METHODS, options_map=_OPTIONS)
    for code, text in {**MESSAGES, **i18n.WEB_MESSAGES}.items():
        template.add(text, None, [], auto_comments=[f"error code {code}"], context=code)
    return template


def po_path(language: str) -> Path:
    return i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


CATALOGUES = Catalogues(
    command="endotrial.web.catalogue",
    extracted=extracted,
    po_path=po_path,
    locale_of=lambda language: language,
    languages=[code for code in i18n.LANGUAGES if code != i18n.DEFAULT_LANGUAGE],
)
missing = CATALOGUES.missing
read_catalogue = CATALOGUES.read

if __name__ == "__main__":  # pragma: no cover
    sys.exit(CATALOGUES.main(sys.argv[1:]))
