"""`python -m virtdiag`: the installed command's name as a module (the code lives in the diagnose package)."""

from diagnose import __version__

__all__ = ["__version__"]
