"""The one public-API pattern of every ethoflow subpackage: an explicit export table, imported on use.

Each subpackage's ``__init__`` lists its modules (relative to the package) and the public names each
defines::

    _EXPORTS = {
        "params": ("load_section", "ParamsError"),
        "io": ("read_json", "write_json"),
    }
    __getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

``from ethoflow.<pkg> import name`` and ``ethoflow.<pkg>.name`` then work as with plain re-exports, but
the defining module is imported on first use (PEP 562), so importing a package loads neither torch,
librosa nor zarr. The table is the one place that says what a package's public API is.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Module ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``: each public name is imported from
    its module on first use.

    A name that equals the last part of its module's name is imported at once (see the comment below).

    Args:
        package: the package's ``__name__`` (called from that package's ``__init__``).
        exports: module -> the public names it defines. The module is relative to ``package``
            (``"inference.detect"``) or, when it starts with ``ethoflow.``, absolute.

    Returns:
        ``(__getattr__, __dir__, __all__)``; ``__all__`` is the sorted public names.

    Raises:
        ValueError: a name is listed under two modules.
        AttributeError: (from the returned ``__getattr__``) the name is not exported.
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        qualified = module if module.startswith("ethoflow.") else f"{package}.{module}"
        for name in names:
            if name in where:
                raise ValueError(f"{package}: {name!r} is exported from both {where[name]} and {qualified}")
            where[name] = qualified

    # A name equal to its module's own name (``progress`` in ``ethoflow.core.progress``) is bound now:
    # importing that submodule later would set the package attribute to the module, hiding the function.
    pkg = sys.modules[package]
    for name, module in where.items():
        if module.rsplit(".", 1)[-1] == name:
            setattr(pkg, name, getattr(importlib.import_module(module), name))

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    public = sorted(where)

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__, public
