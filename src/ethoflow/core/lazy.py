"""The one public-API pattern of every ethoflow subpackage: an explicit export table, imported on use.

Each subpackage's ``__init__`` lists its public names and the module that defines each::

    _EXPORTS = {"load_section": "ethoflow.core.params", ...}
    __all__ = sorted(_EXPORTS)
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

``from ethoflow.<pkg> import name`` and ``ethoflow.<pkg>.name`` then work as with plain re-exports, but
the defining module is imported on first use (PEP 562), so importing a package loads neither torch,
librosa nor zarr. The table is the one place that says what a package's public API is.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` on first use.

    A name that equals the last part of its module's name is imported at once (see the comment below).

    Args:
        package: the package's ``__name__`` (called from that package's ``__init__``).
        exports: public name -> fully qualified module defining it.

    Raises (from the returned ``__getattr__``):
        AttributeError: the name is not in ``exports``.
    """

    # A name equal to its module's own name (``progress`` in ``ethoflow.core.progress``) is bound now:
    # importing that submodule later would set the package attribute to the module, hiding the function.
    pkg = sys.modules[package]
    for name, module in exports.items():
        if module.rsplit(".", 1)[-1] == name:
            setattr(pkg, name, getattr(importlib.import_module(module), name))

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
