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

from endotrial.catalogues import Catalogues, extract_template
from endotrial.reporting import i18n

REPORTING_DIR = Path(__file__).parent
#: `t(message, **params)`: the translator's call; `N_`: a message marked where it is defined.
_KEYWORDS = {"t": None, "N_": None}


def extracted() -> Catalog:
    """Every message the report can show, as a catalogue template."""
    return extract_template(REPORTING_DIR, [("**.py", "python")], keywords=_KEYWORDS)


def po_path(language: str) -> Path:
    folder = i18n.LANGUAGES[language][0]
    return i18n.LOCALE_DIR / folder / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


CATALOGUES = Catalogues(
    command="endotrial.reporting.catalogue",
    extracted=extracted,
    po_path=po_path,
    locale_of=lambda language: i18n.LANGUAGES[language][0],
    languages=[code for code in i18n.LANGUAGES if code != i18n.DEFAULT_LANGUAGE],
)
missing = CATALOGUES.missing
read_catalogue = CATALOGUES.read

if __name__ == "__main__":  # pragma: no cover
    sys.exit(CATALOGUES.main(sys.argv[1:]))
