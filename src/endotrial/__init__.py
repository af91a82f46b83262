"""endotrial: run and analyse a clinical trial from a machine-readable protocol file."""

from endotrial.errors import EndotrialError

__version__ = "0.1.0"

__all__ = ["EndotrialError", "__version__"]
