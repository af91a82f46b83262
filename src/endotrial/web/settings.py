"""The web application's settings: one object, built from the environment, refusing unsafe ones."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from endotrial.errors import EndotrialError

#: Signs the session cookie; set it so that sessions outlive a restart (and are shared by
#: several processes). Unset, a random key is made at start-up: every restart signs everyone out.
SECRET_ENV = "ENDOTRIAL_WEB_SECRET"
#: A session unused this long is over (the browser drops the cookie, the server refuses it).
DEFAULT_IDLE_MINUTES = 30
MIN_SECRET_CHARS = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class WebSettingsError(EndotrialError):
    default_code = "web.settings"


@dataclass(frozen=True)
class WebSettings:
    secret_key: str
    idle_minutes: int = DEFAULT_IDLE_MINUTES
    secure_cookies: bool = False
    """Send cookies over HTTPS only: on whenever the server listens beyond this machine (it
    then sits behind a proxy that speaks HTTPS)."""

    def __post_init__(self) -> None:
        if len(self.secret_key) < MIN_SECRET_CHARS:
            raise WebSettingsError(
                f"{SECRET_ENV}: the session secret must have at least {MIN_SECRET_CHARS} "
                "characters (make one with `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        if not 1 <= self.idle_minutes <= 24 * 60:
            raise WebSettingsError(
                f"idle_minutes {self.idle_minutes}: give 1 to 1440 minutes", field="idle_minutes"
            )

    @property
    def idle_seconds(self) -> int:
        return self.idle_minutes * 60


def settings_from_environment(host: str = "127.0.0.1") -> WebSettings:
    """The secret from ENDOTRIAL_WEB_SECRET (else a random one), Secure cookies unless the
    server listens on this machine only."""
    secret = os.environ.get(SECRET_ENV) or secrets.token_urlsafe(48)
    return WebSettings(secret_key=secret, secure_cookies=host not in LOOPBACK_HOSTS)
