"""Reading a version-1 protocol file: what version 1 meant, written the version-2 way.

Version 1 found the β-hCG test and the clinical-pregnancy scan by the seed trial's event ids
(`beta_hcg`, `clinical_pregnancy_ultrasound`), took the embryo transfer from its kind, and let
a file carry settings no engine read. Version 2 names each of these events by its role and
declares every setting. The upgrade gives the roles exactly where version 1 found the events,
and leaves out the settings no engine ever read (they had no effect); everything else is read
as written and checked as any version-2 file. A file the upgrade cannot make valid is refused
with its lines and fields, as any file is.
"""

from __future__ import annotations

import copy
from typing import Any

from endotrial.protocol.models import FORMAT_VERSION, EventRole
from endotrial.protocol.settings import SETTINGS

#: Version 1 found these events by their ids.
_ROLE_BY_V1_ID = {
    "beta_hcg": EventRole.beta_hcg_test,
    "clinical_pregnancy_ultrasound": EventRole.pregnancy_scan,
}


def upgrade_from_1(data: dict[str, Any]) -> dict[str, Any]:
    """The version-1 file `data` (parsed YAML) as the version-2 file that means the same."""
    upgraded = copy.deepcopy(data)
    upgraded["format_version"] = FORMAT_VERSION
    for event in upgraded.get("schedule") or []:
        if not isinstance(event, dict) or "role" in event:
            continue
        role = _role_in_v1(event)
        if role is not None:
            event["role"] = role.value
    settings = upgraded.get("settings")
    if isinstance(settings, dict):
        upgraded["settings"] = {k: v for k, v in settings.items() if k in SETTINGS}
    return upgraded


def _role_in_v1(event: dict[str, Any]) -> EventRole | None:
    if event.get("kind") == "transfer":
        return EventRole.embryo_transfer
    event_id = event.get("id")
    return _ROLE_BY_V1_ID.get(event_id) if isinstance(event_id, str) else None
