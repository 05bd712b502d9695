"""Vega, Vega-Lite and vega-embed from a package installed in the environment, never from a CDN.

DVC's page template for ``dvc plots show|diff`` loads the three libraries from cdn.jsdelivr.net, so on a
machine without internet (most lab clusters) every Vega plot is an empty ``<div>``. The ``panel`` package
(already installed: keypoint-moseq depends on it) ships the UMD builds of the three libraries in
``panel/dist/bundled/vegaplot``; :func:`offline_scripts` inlines them into ``<script>`` elements and
:func:`write_plots_template` writes ``.dvc/plots/page.html`` (DVC's ``plots.html_template``) from the
committed ``.dvc/plots/page.in.html``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ethoflow.core.errors import EthoflowError
from ethoflow.core.io import atomic_path

#: where ``panel`` keeps its bundled Vega builds (files named ``<library>@<version>``)
BUNDLE_PACKAGE = "panel"
BUNDLE_DIR = ("dist", "bundled", "vegaplot")
#: load order: vega-lite needs vega, vega-embed needs both
LIBRARIES = ("vega", "vega-lite", "vega-embed")
#: the line of ``page.in.html`` replaced by the inlined scripts
MARKER = "<!-- ethoflow:vega-scripts -->"


def bundled_libraries() -> dict[str, Path]:
    """library name -> path of its minified UMD build inside the installed ``panel`` package.

    Raises:
        EthoflowError: ``panel`` is not installed, or one of the three builds is missing from it.
    """
    spec = importlib.util.find_spec(BUNDLE_PACKAGE)  # located, not imported (importing panel takes seconds)
    if spec is None or not spec.submodule_search_locations:
        raise EthoflowError(
            f"the '{BUNDLE_PACKAGE}' package is not installed: it provides the Vega scripts for offline plots "
            "(pip install -r requirements.lock)"
        )
    root = Path(next(iter(spec.submodule_search_locations))).joinpath(*BUNDLE_DIR)
    found: dict[str, Path] = {}
    names = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    for lib in LIBRARIES:
        matches = [n for n in names if n.startswith(f"{lib}@")]
        if not matches:
            raise EthoflowError(f"{root}: no '{lib}@<version>' build in the installed {BUNDLE_PACKAGE} package")
        found[lib] = root / matches[-1]
    return found


def offline_scripts() -> str:
    """Three ``<script>`` elements holding vega, vega-lite and vega-embed inline (about 0.8 MB), each
    preceded by a comment naming the library and version it came from."""
    parts = []
    for path in bundled_libraries().values():
        code = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
        parts.append(f"<!-- {path.name} from the installed {BUNDLE_PACKAGE} package -->\n<script>{code}</script>")
    return "\n".join(parts)


def render_template(source: str, origin: str = "template") -> str:
    """``source`` with its :data:`MARKER` line replaced by :func:`offline_scripts`.

    Raises:
        EthoflowError: the marker is missing, or the template keeps DVC's ``{scripts}`` placeholder
            (which would add the CDN scripts again).
    """
    if MARKER not in source:
        raise EthoflowError(f"{origin}: no '{MARKER}' line to put the Vega scripts in")
    if "{scripts}" in source:
        raise EthoflowError(f"{origin}: remove DVC's '{{scripts}}' placeholder (it loads Vega from a CDN)")
    return source.replace(MARKER, offline_scripts())


def write_plots_template(source: str | Path, out: str | Path) -> Path:
    """Write DVC's page template ``out`` (``.dvc/plots/page.html``) from ``source`` with the Vega
    scripts inlined; written atomically. Returns ``out``.

    Raises:
        EthoflowError: see :func:`render_template`; ``source`` missing.
    """
    source = Path(source)
    if not source.is_file():
        raise EthoflowError(f"{source}: page template source not found")
    html = render_template(source.read_text(encoding="utf-8"), str(source))
    if "{plot_divs}" not in html:
        raise EthoflowError(f"{source}: no '{{plot_divs}}' placeholder (DVC puts the plots there)")
    with atomic_path(out) as tmp:
        Path(tmp).write_text(html, encoding="utf-8")
    return Path(out)
