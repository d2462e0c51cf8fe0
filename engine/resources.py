"""Where the shipped policy, schemas, model and corpus live, for a source checkout and an install.

In a checkout (and an editable install) they are the top-level folders beside ``engine/``. A
wheel installs them as data files under ``<prefix>/share/escalation-handlers/`` (see
``[tool.setuptools.data-files]`` in ``pyproject.toml``); :func:`resource` looks there second.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SHARE = "share/escalation-handlers"


def resource(name: str) -> Path:
    """The folder ``name`` (``rules``, ``schemas``, ``models``, ``data``) shipped with the package."""
    local = CHECKOUT / name
    if local.exists():
        return local
    for prefix in (sysconfig.get_paths()["data"], sys.prefix, sys.base_prefix):
        installed = Path(prefix) / SHARE / name
        if installed.exists():
            return installed
    return local  # not found: callers report the path they looked at
