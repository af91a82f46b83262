"""The application `endotrial serve` runs, built in each server process from the environment
the command set: uvicorn starts several worker processes only from an import string, so each
worker opens its own engine on the same database (and shares the session secret)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from endotrial.protocol import load_protocol
from endotrial.services import open_study
from endotrial.store import open_existing
from endotrial.web.app import create_app
from endotrial.web.settings import settings_from_environment

SERVED_DATABASE_ENV = "ENDOTRIAL_SERVE_DATABASE"
SERVED_PROTOCOL_ENV = "ENDOTRIAL_SERVE_PROTOCOL"
SERVED_HOST_ENV = "ENDOTRIAL_SERVE_HOST"
#: uvicorn's import string for `app_from_environment` (a factory).
FACTORY = "endotrial.web.served:app_from_environment"


def app_from_environment() -> FastAPI:
    """The application over the database, protocol and host `endotrial serve` was given."""
    study = open_study(
        open_existing(os.environ[SERVED_DATABASE_ENV]),
        load_protocol(os.environ.get(SERVED_PROTOCOL_ENV) or None),
    )
    host = os.environ.get(SERVED_HOST_ENV, "127.0.0.1")
    return create_app(study, settings_from_environment(host))
