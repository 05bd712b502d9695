"""Model selection across seeds (moseq_seeds) with the fits replaced by cheap fakes: the highest EML
is chosen, a killed selection refits only the seeds without a completion record, other inputs refit
everything. The real tiny fits are in tests/integration/test_moseq_real_fits.py (the closed loop:
found, corrected) and tests/integration/test_moseq_pipeline.py (the whole DAG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json
from ethoflow.dispatch import ComputeParams
from ethoflow.moseq import correction, fit, plots, seeds, stages
from ethoflow.moseq.inputs import MoseqInputs
from ethoflow.moseq.params import MoseqParams
from tests.fixtures.moseq import write_toy_kpms_config


class Crash(Exception):
    pass


def test_choose_picks_the_highest_eml_first_on_ties():
    assert seeds.choose(np.array([-5.0, -1.0, -1.0, -3.0])) == 1
    with pytest.raises(InputError, match="finite"):
        seeds.choose(np.array([-1.0, np.nan]))


def test_the_best_eml_inside_the_window_is_preferred_and_the_rule_is_named():
    scores, window = np.array([-5.0, -1.0, -3.0]), (9.0, 12.0)
    assert seeds.choose_seed(scores, np.array([10.0, 14.0, 12.0]), window) == (
        2,
        "highest EML among the seeds inside the window",
    )
    assert seeds.choose_seed(scores, np.array([8.0, 14.0, 13.0]), window) == (
        1,
        "highest EML (no seed inside the window)",
    )
    assert seeds.choose_seed(scores, np.array([10.0, 14.0, 12.0]), window, "eml") == (1, "highest EML (select: eml)")


@pytest.fixture
def project(in_tmp, monkeypatch):
    pytest.importorskip("keypoint_moseq")
    import keypoint_moseq as kpms

    from ethoflow.moseq.io import update_kpms_config

    dirs = {k: in_tmp / k for k in ("pca", "arhmm", "full")}
    for k, d in dirs.items():
        write_toy_kpms_config(d)
        update_kpms_config(d, kappa={"pca": 1.0, "arhmm": 1e6, "full": 1e4}[k])
    (dirs["pca"] / "pca.p").write_bytes(b"pca")
    (in_tmp / "keypoints.p").write_bytes(b"keypoints")
    calls: list[int] = []
    kappas: list[tuple[float, float]] = []
    settings: list[tuple[int, int | None]] = []
    ctl = {"crash_at": None}

    def fake_fit_seed(spec):
        if ctl["crash_at"] is not None and spec["seed"] == ctl["crash_at"]:
            raise Crash("killed")
        calls.append(spec["seed"])
        d = Path(spec["project_dir"]) / spec["name"]
        d.mkdir(parents=True, exist_ok=True)
        (d / "checkpoint.h5").write_bytes(b"model")
        kappas.append((spec["arhmm_kappa"], spec["full_kappa"]))
        settings.append((spec["num_states"], spec["seg_length"]))
        result = {"seed": spec["seed"], "name": spec["name"], "iterations": 3, "median_duration": 9.0}
        from ethoflow.core.io import write_json

        write_json(spec["record"], {**result, "fingerprint": spec["fingerprint"]})
        return result

    # EML: seed 11 (the middle one) scores highest
    def fake_eml(checkpoint_paths):
        by_seed = {"seed-10": -5.0, "seed-11": -1.0, "seed-12": -3.0}
        names = [Path(p).parent.name for p in checkpoint_paths]
        return np.array([by_seed[n] for n in names]), np.full(len(names), 0.1)

    # median syllable duration (frames) per seed; the default window 300-400 ms at 30 fps is 9-12 frames
    medians = {"seed-10": 10.0, "seed-11": 11.0, "seed-12": 12.0}
    monkeypatch.setattr(seeds, "seed_median_duration", lambda path: medians[Path(path).parent.name])
    monkeypatch.setattr(fit, "fit_seed", fake_fit_seed)
    monkeypatch.setattr(kpms, "expected_marginal_likelihoods", fake_eml)
    monkeypatch.setattr(plots, "seed_figures", lambda *a, **k: None)
    return {
        "root": in_tmp,
        "dirs": dirs,
        "calls": calls,
        "ctl": ctl,
        "kappas": kappas,
        "settings": settings,
        "medians": medians,
    }


def _run(p, cfg):
    return stages.run_moseq_seeds(
        cfg,
        inputs=MoseqInputs.of(
            p["dirs"]["arhmm"], p["dirs"]["full"], keypoints=p["root"] / "keypoints.p", pca_dir=p["dirs"]["pca"]
        ),
        out=p["root"] / "seeds",
        eml_plot=p["root"] / "eml.png",
        confusion_plot=p["root"] / "confusion.png",
        compute=ComputeParams(),
    )


def test_highest_eml_is_chosen_and_a_killed_selection_refits_only_missing_seeds(project):
    cfg = MoseqParams(seed=10, seeds={"n_seeds": 3})
    project["ctl"]["crash_at"] = 12
    with pytest.raises(Crash):
        _run(project, cfg)
    assert project["calls"] == [10, 11]
    project["ctl"]["crash_at"] = None
    summary = _run(project, cfg)
    assert project["calls"] == [10, 11, 12], "a finished seed was refitted"
    assert summary["chosen"] == {"seed": 11, "name": "seed-11", "checkpoint": "seed-11/checkpoint.h5"}
    assert summary["eml"] == {"10": -5.0, "11": -1.0, "12": -3.0}
    assert read_json(project["root"] / "seeds" / "seeds.json")["chosen"]["seed"] == 11
    _run(project, cfg)  # complete: nothing refitted
    assert project["calls"] == [10, 11, 12]
    assert set(project["kappas"]) == {(1e6, 1e4)}, "seeds fitted at other kappas than the searches chose"
    # another full-model kappa (a new moseq_full result): every seed is refitted at it
    from ethoflow.moseq.io import update_kpms_config

    update_kpms_config(project["dirs"]["full"], kappa=2e4)
    _run(project, cfg)
    assert project["calls"][3:] == [10, 11, 12] and set(project["kappas"][3:]) == {(1e6, 2e4)}


def test_fewer_seeds_drop_the_extra_models_and_one_seed_is_refused(project):
    _run(project, MoseqParams(seed=10, seeds={"n_seeds": 3}))
    summary = _run(project, MoseqParams(seed=10, seeds={"n_seeds": 2}))
    assert summary["seeds"] == [10, 11] and project["calls"] == [10, 11, 12]
    assert sorted(p.name for p in (project["root"] / "seeds").iterdir() if p.is_dir()) == ["seed-10", "seed-11"]
    with pytest.raises(ValueError, match="n_seeds"):
        MoseqParams(seeds={"n_seeds": 1})


def test_seeds_use_the_searched_num_states_and_the_params_seg_length(project):
    """num_states comes from the AR-HMM's config (as the kappa does), seg_length from moseq.model;
    another seg_length refits every seed."""
    from ethoflow.moseq.io import update_kpms_config

    update_kpms_config(project["dirs"]["arhmm"], num_states=9)
    _run(project, MoseqParams(seed=10, model={"seg_length": 150}))
    assert set(project["settings"]) == {(9, 150)}
    _run(project, MoseqParams(seed=10, model={"seg_length": 200}))
    assert project["calls"] == [10, 11, 12] * 2 and project["settings"][-1] == (9, 200)


def test_a_seed_outside_the_window_loses_to_the_best_one_inside(project):
    """seed 11 has the highest EML but its median (14 frames = 467 ms) is outside 300-400 ms: seed 12
    (the best EML inside) is chosen and seeds.json says by which rule; select: eml keeps seed 11."""
    project["medians"]["seed-11"] = 14.0
    summary = _run(project, MoseqParams(seed=10))
    assert summary["chosen"]["seed"] == 12 and summary["rule"] == "highest EML among the seeds inside the window"
    assert summary["in_window"] == {"10": True, "11": False, "12": True}
    assert summary["median_duration_ms"]["11"] == pytest.approx(466.667)
    assert _run(project, MoseqParams(seed=10, seeds={"select": "eml"}))["chosen"]["seed"] == 11


def test_kappa_correction_follows_the_search_line_and_stays_inside_the_bracket():
    window = (9.0, 12.0)  # frames; centre sqrt(108) = 10.39
    # one fit, twice the centre, slope 0.3 ln/decade: ln 2 / 0.3 = 2.31 decades down
    x = correction.corrected_log10_kappa([(4.0, 2 * 108**0.5)], window, 0.3)
    assert x == pytest.approx(4.0 - np.log(2) / 0.3)
    # too long at 4, too short at 3.5: a root beyond the bracket is replaced by its midpoint
    assert correction.corrected_log10_kappa([(4.0, 13.0), (3.5, 8.9)], window, 0.01) == pytest.approx(3.75)
    with pytest.raises(InputError):
        correction.corrected_log10_kappa([], window, 0.3)


def test_the_final_fits_own_slope_is_used_from_the_second_correction_when_it_is_usable():
    """Least squares over the final fits (the secant through two); the search's slope otherwise, and
    seeds.json says which and why."""
    window, c = (9.0, 12.0), 108**0.5  # frames; centre 10.39
    two = [(4.0, 2 * c), (2.0, 2 * c * np.exp(-0.3))]  # 0.15 ln per decade: half the search's 0.3
    assert correction.correction_slope(two, window, 0.3) == {
        "source": "final_fits",
        "slope": pytest.approx(0.15),
        "final_fits_slope": 0.15,
        "fallback": None,
    }
    xs, noise = np.array([4.0, 3.0, 1.5]), np.array([0.05, -0.04, 0.02])
    three = [(x, 2 * c * np.exp(0.2 * (x - 4.0) + e)) for x, e in zip(xs, noise)]
    expected = np.polyfit(xs, 0.2 * (xs - 4.0) + noise, 1)[0]
    assert correction.correction_slope(three, window, 0.3)["slope"] == pytest.approx(expected)
    # a saturated fit (1000 frames: over 8x the centre) is left out of the line, as the search leaves it out
    assert correction.final_fit_slope([(6.0, 1000.0), *two], window)[0] == pytest.approx(0.15)


@pytest.mark.parametrize(
    "fits, reason, own",
    [
        ([(4.0, 20.0)], "one final fit", None),
        ([(4.0, 1000.0), (2.0, 20.0)], "one final fit", None),  # the first fit saturated
        ([(4.0, 20.0), (4.0, 15.0)], "same kappa", None),
        ([(4.0, 20.0), (2.0, 20.0)], "no change in median", None),
        ([(4.0, 20.0), (2.0, 25.0)], "wrong sign", -0.111572),  # shorter at higher kappa
        ([(4.0, 20.0), (2.0, 19.5)], "too flat", 0.01266),  # under a quarter of the search's 0.3
    ],
)
def test_an_unusable_final_fit_slope_falls_back_to_the_search_slope(fits, reason, own):
    used = correction.correction_slope(fits, (9.0, 12.0), 0.3)
    assert used["source"] == "search" and used["slope"] == 0.3 and used["fallback"] == reason
    assert used["final_fits_slope"] == (None if own is None else pytest.approx(own, abs=1e-5))
    with pytest.raises(InputError, match="positive"):
        correction.correction_slope(fits, (9.0, 12.0), 0.0)


def _kappa_dependent_medians(project, monkeypatch, d0=20.0, slope=0.3, factor=None):
    """Median (frames) = d0 * factor(seed) * exp(slope * (log10 full kappa - 4)); ``slope`` 0.3: the
    search's prior slope (the fixture has no search_state.json); at the searched kappa 1e4 every seed
    is too long."""
    factor = factor or {10: 1.0, 11: 1.5, 12: 0.8}
    fake_fit = fit.fit_seed

    def fit_seed(spec):  # the fake model file holds its full-model kappa
        result = fake_fit(spec)
        (Path(spec["project_dir"]) / spec["name"] / "checkpoint.h5").write_text(repr(spec["full_kappa"]))
        return result

    def median(path):
        seed, k = int(Path(path).parent.name.split("-")[1]), float(Path(path).read_text())
        return d0 * factor[seed] * float(np.exp(slope * (np.log10(k) - 4.0)))

    monkeypatch.setattr(fit, "fit_seed", fit_seed)
    monkeypatch.setattr(seeds, "seed_median_duration", median)

    def fake_eml(checkpoint_paths):
        by_seed = {10: -5.0, 11: -1.0, 12: -3.0}
        return np.array([by_seed[int(Path(p).parent.name.split("-")[1])] for p in checkpoint_paths]), np.full(
            len(checkpoint_paths), 0.1
        )

    import keypoint_moseq as kpms

    monkeypatch.setattr(kpms, "expected_marginal_likelihoods", fake_eml)


def test_a_final_fit_outside_the_window_is_corrected_and_refitted_until_a_seed_lands_inside(project, monkeypatch):
    """Closed loop: at the searched kappas every seed is too long (600/900/480 ms); the search line moves
    both kappas by the same decades, every seed is refitted once, and the one seed inside (seed 10) is
    chosen although seed 11 has the higher EML. A kill during the correction refits only its missing
    seeds."""
    _kappa_dependent_medians(project, monkeypatch)
    cfg = MoseqParams(seed=10, seeds={"n_seeds": 3, "max_final_fits": 3})
    project["ctl"]["crash_at"] = None
    orig = fit.fit_seed

    def crash_in_second_fit(spec):
        if spec["name"] == "seed-12-fit2":
            raise Crash("killed")
        return orig(spec)

    monkeypatch.setattr(fit, "fit_seed", crash_in_second_fit)
    with pytest.raises(Crash):
        _run(project, cfg)
    monkeypatch.setattr(fit, "fit_seed", orig)
    summary = _run(project, cfg)
    assert project["calls"] == [10, 11, 12, 10, 11, 12], "a finished seed was refitted"
    loop = summary["loop"]
    assert loop["status"] == "corrected" and loop["corrections"] == 1 and loop["final_fits"] == 2
    shift = -np.log(20.0 / 108**0.5) / 0.3
    (a0, f0), (a1, f1) = project["kappas"][0], project["kappas"][-1]
    assert np.log10(f1 / f0) == pytest.approx(shift) and np.log10(a1 / a0) == pytest.approx(shift)
    assert summary["chosen"]["name"] == "seed-10-fit2" and summary["rule"].startswith("highest EML among")
    assert summary["in_window"] == {"10": True, "11": False, "12": False}
    assert loop["fits"][0]["spread_ms"] == {"min": 533.333, "median": 666.667, "max": 1000.0}
    assert summary["median_duration_ms"]["10"] == pytest.approx(346.41, abs=0.01)
    assert summary["kappa"]["full"] == pytest.approx(f1)
    _run(project, cfg)  # complete: nothing refitted
    assert len(project["calls"]) == 6


def test_final_fits_responding_at_half_the_search_slope_land_inside_after_the_second_correction(project, monkeypatch):
    """The final models respond at 0.15 ln per decade, the search's line says 0.3 (as real final fits
    moved ~half as far as the line predicted): the first correction (search's slope) falls short
    (1000 -> 589 ms); the second, along the final fits' own slope, lands every seed inside. Along the
    search's slope (the final fits' slope judged too flat) the third fit is still outside: drifted."""
    factor = {10: 1.0, 11: 1.1, 12: 0.9}
    _kappa_dependent_medians(project, monkeypatch, d0=30.0, slope=0.15, factor=factor)
    cfg = MoseqParams(seed=10, seeds={"n_seeds": 3, "max_final_fits": 3})
    loop = _run(project, cfg)["loop"]
    assert loop["status"] == "corrected" and loop["corrections"] == 2 and loop["slope"] == 0.3
    first, second, third = loop["fits"]
    assert first["correction"] is None
    assert second["correction"]["source"] == "search" and second["correction"]["slope"] == 0.3
    assert second["correction"]["fallback"] == "one final fit"
    assert second["spread_ms"]["median"] == pytest.approx(588.6, abs=0.1)  # the search's line predicted 346.4
    assert third["correction"]["source"] == "final_fits" and third["correction"]["slope"] == pytest.approx(0.15)
    assert third["spread_ms"] == {"min": 311.769, "median": 346.41, "max": 381.051}
    assert third["log10_kappa"]["full"] == pytest.approx(4.0 - np.log(30.0 / 108**0.5) / 0.15, abs=1e-4)
    assert third["seeds_in_window"] == 3
    # the same fits along the search's slope only: the third fit falls short again
    monkeypatch.setattr(correction, "MIN_SLOPE_FRACTION", 0.6)
    loop = _run(project, cfg)["loop"]
    assert len(project["calls"]) == 12, "only the third fit is refitted"
    assert loop["status"] == "drifted" and loop["fits"][2]["correction"]["fallback"] == "too flat"
    assert loop["fits"][2]["spread_ms"]["median"] == pytest.approx(476.6, abs=0.1)


def test_a_loop_without_budget_reports_drifted_and_a_first_fit_inside_reports_found(project, monkeypatch):
    _kappa_dependent_medians(project, monkeypatch)
    summary = _run(project, MoseqParams(seed=10, seeds={"max_final_fits": 1}))
    assert summary["loop"]["status"] == "drifted" and summary["rule"] == "highest EML (no seed inside the window)"
    assert "after 1 final fit(s)" in summary["loop"]["message"]
    _kappa_dependent_medians(project, monkeypatch, d0=10.0)
    summary = _run(project, MoseqParams(seed=10, seeds={"max_final_fits": 1, "n_seeds": 2}))
    assert summary["loop"]["status"] == "found" and summary["loop"]["final_fits"] == 1


@pytest.mark.parametrize("n", [6, 90])
def test_the_seed_confusion_plot_is_readable_at_any_number_of_syllables_and_warns_nothing(n):
    """No two tick labels overlap (6 or 90 syllables), and an unused syllable (an empty row, where kpms'
    plot_confusion_matrix divides 0 by 0 and numpy warns 'invalid value encountered in divide') warns
    nothing."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    pytest.importorskip("keypoint_moseq")
    rng = np.random.default_rng(0)
    a = rng.integers(0, n, 20 * n)
    a[a == 2] = 3  # syllable 2 unused by the chosen model
    b = (a * 7 + rng.integers(0, 2, a.size)) % n
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C, rows, cols = plots.confusion_matrix({"s": {"syllable": a}}, {"s": {"syllable": b}})
        fig = plots.confusion_figure({"s": {"syllable": a}}, {"s": {"syllable": b}}, "chosen", "runner-up")
    assert 2 not in rows and np.allclose(C.sum(axis=1), 1.0)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        boxes = sorted((t.get_window_extent(renderer) for t in labels if t.get_text()), key=lambda b: (b.x0, b.y0))
        assert len(boxes) >= min(n - 1, 40) // 3
        assert not any(b1.overlaps(b2) for b1, b2 in zip(boxes, boxes[1:])), "tick labels overlap"


def test_warnings_name_their_source_even_after_keypoint_moseq_replaced_the_format(capsys):
    """kpms sets warnings.formatwarning to print the bare message; ethoflow.moseq's showwarning still
    names the category, file and line."""
    import warnings

    pytest.importorskip("keypoint_moseq")
    import keypoint_moseq  # noqa: F401  (replaces warnings.formatwarning)

    import ethoflow.moseq

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = ethoflow.moseq.show_warning
        np.array([0.0]) / np.array([0.0])
    err = capsys.readouterr().err
    assert "RuntimeWarning: invalid value encountered in divide" in err and "test_seeds.py:" in err
