"""dvc.yaml keeps DVC's contract: complete deps, headline metrics in git, named plots.

Complete deps: every stage depends on the code it runs (its script and every ethoflow module the script
imports, directly or through other modules, lazily or not) and on every input folder its params name. The
import graph is read from the source (``ast``), the stages from DVC's own resolution of dvc.yaml, so
``${...}`` and ``foreach``/``matrix`` are expanded exactly as ``dvc repro`` expands them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
_MODULE_STRING = re.compile(r"^ethoflow(\.[A-Za-z_][A-Za-z0-9_]*)+$")

#: stage (without @item) -> params keys naming the user folders it reads; each must be a dep
STAGE_INPUTS = {
    "acoustic_corpus": ["acoustic.corpus.data_dir"],
    "acoustic_train": ["acoustic.corpus.data_dir"],
    "acoustic_predict": ["acoustic.corpus.data_dir"],
    "acoustic_evaluate": ["acoustic.corpus.data_dir"],
    "acoustic_external": ["acoustic.corpus.data_dir"],
    "acoustic_rf_train": ["acoustic.corpus.data_dir"],
    "moseq_load": ["moseq.load.input_dir"],
    "hbehave_zarr": ["hbehave.zarr.input_dir"],
}


def _module_file(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _imported_modules(tree: ast.AST) -> set[str]:
    """ethoflow module names a file imports: ``import``/``from`` statements anywhere (also inside
    functions) and module-name strings (``importlib.import_module("ethoflow.x.y")`` or lazy-import tables)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STRING.match(node.value):
            names.add(node.value)
    return {n for n in names if n.split(".")[0] == "ethoflow"}


def _lazy_export_modules(tree: ast.Module, path: Path) -> set[str]:
    """The modules of a package ``__init__``'s lazy export table (``_EXPORTS = {"<module>": (names...)}``,
    modules relative to the package unless they start with ``ethoflow.``)."""
    if path.name != "__init__.py":
        return set()
    package = ".".join(path.parent.relative_to(SRC).parts)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["_EXPORTS"]:
            keys = ast.literal_eval(node.value).keys()
            return {k if k.startswith("ethoflow.") else f"{package}.{k}" for k in keys}
    return set()


def code_files(script: Path) -> set[str]:
    """Every file (repo-relative) that running ``script`` can import from ethoflow, plus the script."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imported_modules(tree) | _lazy_export_modules(tree, path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
                found = _module_file(".".join(parts[:i]))
                if found is not None:
                    todo.append(found)
    return {str(p.relative_to(REPO)) for p in seen}


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def missing_deps(cmd: str, deps: list[str]) -> list[str]:
    """The code files a stage's ``cmd`` runs that none of ``deps`` covers (a dep folder covers its files)."""
    scripts = re.findall(r"python\s+(stages/\S+\.py)", cmd)
    assert scripts, f"no stage script in cmd {cmd!r}"
    needed = set().union(*(code_files(REPO / s) for s in scripts))
    return sorted(f for f in needed if not _covered(f, deps))


def _params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def _resolved() -> dict:
    """dvc.yaml as DVC resolves it (``vars``' paths and ``${...}`` filled): stages, plots, artifacts."""
    from ethoflow.core.stage import resolved_dvc_yaml

    return resolved_dvc_yaml(REPO / "dvc.yaml")


#: a path in dvc.yaml: under data/, models/, reports/, metrics/ (not a params key, not a ${...} reference)
_PATH = re.compile(r"(?<![\w$/{.-])((?:data|models|reports|metrics)/[^\s:'\"]*)")


def _literal_paths(text: str) -> list[str]:
    """The literal paths written in dvc.yaml's YAML (comments left out), one entry per occurrence."""
    found = []
    for line in text.splitlines():
        code = "" if line.lstrip().startswith("#") else line.split(" #")[0]
        found += _PATH.findall(code)
    return found


def test_each_path_is_written_once():
    """Each path a stage names (in its cmd, outs, a downstream stage's deps, plots, artifacts) is written
    once, in the top-level ``vars`` ``paths`` mapping, and referenced as ``${paths.<pipeline>.<name>}``."""
    import collections

    text = (REPO / "dvc.yaml").read_text()
    counts = collections.Counter(_literal_paths(text))
    twice = sorted(p for p, n in counts.items() if n > 1)
    assert not twice, f"paths written more than once in dvc.yaml (declare them in vars' paths): {twice}"
    declared = yaml.safe_load(text)["vars"][0]["paths"]
    values: list[str] = []

    def walk(d):
        for v in d.values():
            walk(v) if isinstance(v, dict) else values.append(v)

    walk(declared)
    assert len(values) == len(set(values)), "a path declared under two names"
    assert all(counts[v] == 1 for v in values if "/" in v)


def test_the_path_check_fails_when_a_path_is_written_twice():
    """The check can fail: a stage that writes a declared path literally is reported."""
    text = (REPO / "dvc.yaml").read_text() + "\n  extra:\n    cmd: x --out data/interim/acoustic/corpus\n"
    assert "data/interim/acoustic/corpus" in [p for p in _literal_paths(text) if _literal_paths(text).count(p) > 1]


def test_vars_keep_params_yaml_in_the_templating_context():
    """``vars`` does not replace params.yaml: the stages still read ``${acoustic...}`` from it."""
    stages = _resolved()["stages"]
    assert _params()["acoustic"]["corpus"]["data_dir"] in stages["acoustic_corpus"]["deps"]
    assert stages["acoustic_corpus"]["outs"] == ["data/interim/acoustic/corpus"]


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


@pytest.fixture(scope="module")
def stages() -> dict[str, dict]:
    """Every resolved stage: name -> {cmd, deps, metrics (path -> cache flag)}, as DVC resolves dvc.yaml."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        out = {}
        for st in repo.index.stages:
            out[st.addressing] = {
                "cmd": st.cmd,
                "deps": [d.def_path for d in st.deps],
                "metrics": {o.def_path: o.use_cache for o in st.outs if o.metric},
                "outs": [o.def_path for o in st.outs],
            }
    return out


def test_every_stage_depends_on_the_code_it_imports(stages):
    problems = {name: missing_deps(st["cmd"], st["deps"]) for name, st in stages.items()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, f"stages whose imported code is not among their deps: {problems}"


def test_every_stage_depends_on_the_user_inputs_its_params_name(stages):
    params = _params()
    for name, st in stages.items():
        for key in STAGE_INPUTS.get(name.split("@")[0], []):
            folder = _get(params, key)
            assert folder in st["deps"], f"{name}: {key}={folder!r} is not among its deps {st['deps']}"


def test_the_deps_check_fails_when_an_import_is_not_a_dep(stages):
    """The check can fail: drop one module folder the script imports and it is reported."""
    st = stages["vae_train"]
    deps = [d for d in st["deps"] if d != "src/ethoflow/hbehave"]
    missing = missing_deps(st["cmd"], deps)
    assert missing and all(m.startswith("src/ethoflow/hbehave/") for m in missing), missing
    deps = [d for d in st["deps"] if d != "src/ethoflow/core"]
    assert "src/ethoflow/core/params.py" in missing_deps(st["cmd"], deps)


def test_the_import_graph_follows_lazy_imports():
    files = code_files(REPO / "stages/vae_train.py")
    assert "src/ethoflow/vae/snips.py" in files  # imported inside vae.train's functions
    assert "src/ethoflow/dispatch/jobs.py" in files and "src/ethoflow/core/io.py" in files


def test_metrics_are_one_headline_file_per_pipeline_in_git(stages):
    """One headline file per pipeline, plus one per analysis stage run after it (``metrics/<pipeline>_<analysis>
    [_<item>].json``, e.g. the hbehave probe per aggregation), all committed (``cache: false``)."""
    declared = {p: cache for st in stages.values() for p, cache in st["metrics"].items()}
    pipelines = ("acoustic", "moseq", "hbehave", "vae", "build06")
    assert {f"metrics/{p}.json" for p in pipelines} <= set(declared)
    for path, cache in declared.items():
        assert cache is False, path
        assert re.fullmatch(rf"metrics/({'|'.join(pipelines)})(_[a-z0-9]+)*\.json", path), path
    ignored = (REPO / ".gitignore").read_text()
    assert "/metrics/" not in ignored, "headline metrics are committed to git, not ignored"


def test_no_out_lands_in_metrics_but_the_headlines(stages):
    for name, st in stages.items():
        for out in st["outs"]:
            if out.startswith("metrics/"):
                assert out in st["metrics"], f"{name}: {out} is under metrics/ but not a headline metric"


def test_named_plots_use_existing_templates():
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    builtin = {
        "simple",
        "linear",
        "confusion",
        "confusion_normalized",
        "scatter",
        "scatter_jitter",
        "smooth",
        "bar_horizontal_sorted",
        "bar_horizontal",
    }
    for entry in spec["plots"]:
        props = next(iter(entry.values())) if isinstance(entry, dict) else {}
        template = (props or {}).get("template")
        if template and template not in builtin:
            assert (REPO / ".dvc/plots" / f"{template}.json").is_file(), template


def _plot_sources(spec: dict) -> dict[str, list[str]]:
    """plot id -> the data files (or folders / images) it reads, from dvc.yaml's top-level ``plots``."""
    out = {}
    for entry in spec["plots"]:
        if isinstance(entry, str):
            out[entry] = [entry]
            continue
        pid, props = next(iter(entry.items()))
        y = (props or {}).get("y")
        out[pid] = list(y) if isinstance(y, dict) else [pid]
    return out


def test_every_plot_reads_a_single_file_out_or_whole_folder_outs(stages):
    """A plot source inside a folder out makes `dvc exp run` fail in a clone whose cache lacks that
    folder ("failed to load directory"), so every source is a file out of its own, or a whole folder out
    (or a folder holding only folder outs: hbehave's heatmaps per aggregation), which DVC skips with a
    warning while it is missing."""
    spec = _resolved()
    outs = {o for st in stages.values() for o in st["outs"]}
    for pid, sources in _plot_sources(spec).items():
        for src in sources:
            inside = [o for o in outs if src.startswith(o + "/")]
            below = [o for o in outs if o.startswith(src + "/")]
            assert src in outs or (below and not inside), f"plot {pid}: {src} is not an out, nor a folder of outs"


def test_plots_show_writes_one_page_with_every_named_plot(tmp_path):
    """`dvc plots show` renders each named plot (with its template) into one HTML page. The data are
    small stand-ins in the columns the stages write; the pipelines' own runs are checked elsewhere."""
    import shutil
    import subprocess
    import sys

    spec = _resolved()
    proj = tmp_path / "p"
    proj.mkdir()
    shutil.copy(REPO / "dvc.yaml", proj / "dvc.yaml")
    shutil.copy(REPO / "params.yaml", proj / "params.yaml")
    shutil.copytree(REPO / ".dvc" / "plots", proj / ".dvc" / "plots")
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True)
    columns: dict[str, list[str]] = {}
    for entry in spec["plots"]:
        pid, props = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        props = props or {}
        if pid.endswith(".png") or not isinstance(props.get("y"), dict):  # an image, or a folder of images
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            png = proj / pid if pid.endswith(".png") else proj / pid / "a" / "fig.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            fig = plt.figure(figsize=(1, 1))
            fig.savefig(png)
            plt.close(fig)
            if "x" in props:  # the folder's summary table, drawn with the entry's x and y
                (png.parent / "summary.csv").write_text(f"{props['y']},{props['x']}\nc1,1\nc2,2\n")
            continue
        for src, field in props["y"].items():
            columns.setdefault(src, ["series", "trial"] if props.get("template") else [])
            columns[src] += [props["x"], field]
    for src, cols in columns.items():
        cols = list(dict.fromkeys(cols))
        sep = "\t" if src.endswith(".tsv") else ","
        rows = [sep.join(cols)] + [
            sep.join("v1" if c == "series" else str(i + 0.5 * j) for j, c in enumerate(cols)) for i in range(3)
        ]
        (proj / src).parent.mkdir(parents=True, exist_ok=True)
        (proj / src).write_text("\n".join(rows) + "\n")
    dvc_bin = Path(sys.executable).parent / "dvc"
    res = subprocess.run([str(dvc_bin), "plots", "show", "-o", "page"], cwd=proj, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "WARNING" not in res.stdout + res.stderr, res.stdout + res.stderr
    html = (proj / "page" / "index.html").read_text()
    element_ids = set(re.findall(r"vegaEmbed\(\'#([^\']+)\'", html)) | set(re.findall(r'\bid="([^"]+)"', html))
    for pid in _plot_sources(spec):  # DVC names a plot's element after its id (a folder: after each file)
        key = re.sub(r"[/.]", "_", pid)
        assert any(e == key or e.startswith(key + "_") for e in element_ids), (
            f"plot {pid} not on the page: {element_ids}"
        )
    for entry in spec["plots"]:
        if isinstance(entry, dict):
            title = next(iter(entry.values())).get("title")
            if title:
                assert title in html, title


def test_every_detection_set_depends_on_its_data_dir_and_the_models(stages):
    for name, ds in _params()["acoustic"]["detect"]["sets"].items():
        deps = stages[f"acoustic_detect@{name}"]["deps"]
        assert ds["data_dir"] in deps and "models/acoustic" in deps, (name, deps)


def test_every_trained_model_is_a_registry_artifact(stages):
    """dvc.yaml `artifacts:` (DVC's model registry, read as `dvc artifacts get` reads it) names every
    trained model out under models/ with type model, a description and labels; the training summaries,
    histories, DVCLive folders and moseq_apply's per-set results are not models."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        artifacts = {n: a for per_file in repo.artifacts.read().values() for n, a in per_file.items()}
    for name, art in artifacts.items():
        assert art.type == "model" and len(art.desc) > 30 and art.labels, name
        assert art.meta["stage"] in stages, (name, art.meta["stage"])
    paths = [a.path for a in artifacts.values()]
    models = [
        (name, out)
        for name, st in stages.items()
        for out in st["outs"]
        if out.startswith("models/")
        and not out.endswith(".json")
        and not out.endswith("/dvclive")
        and not name.startswith("moseq_apply")
    ]
    assert len(models) >= 10
    for name, out in models:
        assert any(p == out or p.startswith(out + "/") for p in paths), f"{name}: model {out} is not an artifact"
    assert artifacts["vae"].path == f"models/vae/{_params()['vae']['model_name']}"  # interpolated like the stage


def test_every_stage_lists_the_compute_mode_and_no_other_compute_key():
    """``compute.numerics`` and ``compute.threads`` change results (portable vs fast CPU kernels), so every
    stage lists them and switching reruns the pipeline; where and with what resources a stage runs
    (the rest of ``compute``) changes nothing and is listed by none."""
    raw = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, st in raw.items():
        params = [p if isinstance(p, str) else next(iter(p)) for p in st.get("do", st).get("params", [])]
        compute = sorted(p for p in params if p.startswith("compute"))
        assert compute == ["compute.numerics", "compute.threads"], (name, compute)
