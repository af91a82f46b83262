"""The study team's web application and REST API: a thin shell over the services.

`create_app(study, settings)` builds the FastAPI application (`endotrial serve` runs it with
uvicorn): server-rendered pages (Jinja2, htmx) and the REST API under /api/v1, both reading
through `endotrial.services`, in English and simplified Chinese.
"""

from endotrial.web.app import create_app
from endotrial.web.settings import WebSettings, settings_from_environment

__all__ = ["WebSettings", "create_app", "settings_from_environment"]
