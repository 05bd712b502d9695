"""Duration distribution of the final model and the headline metrics (no kpms)."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.moseq.durations import duration_stats, run_lengths
from ethoflow.moseq.results import headline_metrics, search_outcome


def test_quartiles_and_one_frame_fraction_on_a_known_sequence():
    # runs: 1, 1, 3, 2, 1, 4, 8 frames (7 syllables, 3 of them single frames)
    seq = np.array([0, 1, 2, 2, 2, 0, 0, 3, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2])
    runs = run_lengths(seq)
    assert runs.tolist() == [1, 1, 3, 2, 1, 4, 8]
    st = duration_stats(runs, fps=10.0)  # 100 ms per frame
    # sorted 1 1 1 2 3 4 8: q25 at position 1.5 -> 1, median 2, q75 at position 4.5 -> 3.5
    assert st == {
        "q25_ms": 100.0,
        "median_ms": 200.0,
        "q75_ms": 350.0,
        "one_frame_fraction": pytest.approx(3 / 7, abs=1e-6),
    }


def test_headline_has_numbers_only():
    from ethoflow.moseq.search import SearchState, Trial

    common = {"target": (9, 12), "bounds": (3, 18), "start": 10.5, "max_trials": 5, "method": "secant"}
    trial = Trial(index=0, log10_kappa=6.0, kappa=1e6, duration=10.5)
    states = {
        "arhmm": SearchState(
            **common,
            trials=[trial, trial],
            status="found",
            message="m",
            extra={"trial_duration": 10.5, "final_duration": 11.0},
        ),
        "full": SearchState(
            **common,
            trials=[trial],
            status="drifted",
            message="d",
            extra={"search_status": "found", "trial_duration": 11.0, "final_duration": 14.0},
        ),
    }
    search = {k: search_outcome(s, 30.0) for k, s in states.items()}
    assert search["full"]["status"] == "drifted" and search["full"]["final_median_ms"] == pytest.approx(466.667)
    assert search["full"]["trial_median_ms"] == pytest.approx(366.667) and not search["full"]["final_in_window"]
    summary = {
        "kappa": {"arhmm": 1e6, "full": 1e5},
        "median_duration_ms": 400.0,
        "total_syllables": 20,
        "syllables_90pct_frames": 6,
        "search": search,
        "duration_ms": {"q25_ms": 200.0, "median_ms": 400.0, "q75_ms": 700.0, "one_frame_fraction": 0.05},
    }
    h = headline_metrics(summary)
    assert h["q25_ms"] == 200.0 and h["q75_ms"] == 700.0 and h["one_frame_fraction"] == 0.05
    assert h["in_window"] == {"arhmm": 1, "full": 0}
    # the chosen seed's refit is judged too: searched models inside, results outside -> results 0
    summary["results_in_window"] = False
    assert headline_metrics(summary)["in_window"] == {"arhmm": 1, "full": 0, "results": 0}

    def numbers(v):
        return all(numbers(x) for x in v.values()) if isinstance(v, dict) else isinstance(v, (int, float))

    assert numbers(h)


def test_syllable_frequencies_are_ranked_so_bar_heights_fall_with_the_rank():
    from ethoflow.moseq.plots import ranked_frequencies, syllable_frequency_figure

    counts = np.array([5, 0, 40, 5, 12, 0, 30])
    ids, frac = ranked_frequencies(counts)
    assert ids.tolist() == [2, 6, 4, 0, 3] and frac.sum() == pytest.approx(1.0)
    fig = syllable_frequency_figure(counts)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == sorted(heights, reverse=True) and len(heights) == 5
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "6", "4", "0", "3"]


def test_grid_movie_skeleton_with_an_unknown_bodypart_is_a_params_error(tmp_path):
    from ethoflow.core.errors import ParamsError
    from ethoflow.moseq.params import MoseqParams
    from ethoflow.moseq.results import write_grid_movies

    cfg = MoseqParams(
        results={"grid_movies": {"video_paths": {"s": "v.mp4"}}}, skeleton=[["head", "nose"], ["head", "tail"]]
    )
    with pytest.raises(ParamsError, match=r"moseq.skeleton: \['nose'\]"):
        write_grid_movies(cfg, {"s": {}}, {"bodyparts": ["head", "tail"]}, None, tmp_path / "movies")
