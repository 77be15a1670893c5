"""Moved to driver.session (the Pen facade and its parts); kept as an alias until every
importer follows."""

from .session import *  # noqa: F403
from .session import __all__ as __all__
from .vocabulary import HOME_CLIENT, PROFESSIONAL_ROLES  # noqa: F401
