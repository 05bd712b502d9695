"""The headline status of moseq_results describes the model the results come from (the chosen seed's
refit): ``found`` only when its median syllable duration is inside the target window."""

from __future__ import annotations

from ethoflow.moseq.results import headline_metrics, results_status

WINDOW = (300.0, 400.0)


def _summary(median_ms, full_status="found", full_final_ms=366.7, arhmm_extra=None):
    return {
        "median_duration_ms": median_ms,
        "search": {
            "arhmm": {"status": "found", "final_median_ms": 333.3, **(arhmm_extra or {})},
            "full": {"status": full_status, "final_median_ms": full_final_ms},
        },
        "seeds": {"chosen": {"seed": 2}, "rule": "highest EML (no seed inside the window)"},
    }


def test_results_model_inside_the_window_is_found():
    status, message = results_status(_summary(366.7), WINDOW)
    assert status == "found" and "seed 2" in message and "366.7 ms" in message


def test_results_model_outside_the_window_is_drifted_naming_both_durations():
    """The demo's case: the search's final full model 400 ms (found), the chosen seed's refit 433 ms."""
    status, message = results_status(_summary(433.3, full_final_ms=400.0), WINDOW)
    assert status == "drifted"
    assert "400.0 ms" in message and "433.3 ms" in message and "seed 2" in message
    assert "no seed inside the window" in message


def test_a_kappa_on_a_range_bound_is_at_bound_and_a_failed_search_keeps_its_status():
    bound = {"at_bound": {"bound": "lower", "log10_kappa": 3.0, "kappa": 1e3}, "status": "at_bound"}
    status, message = results_status(_summary(350.0, arhmm_extra=bound), WINDOW)
    assert status == "at_bound" and "kappa_log10_range" in message
    assert results_status(_summary(900.0, full_status="unreachable"), WINDOW)[0] == "unreachable"


def test_headline_in_window_results_follows_the_results_model():
    summary = {
        **_summary(433.3),
        "kappa": {"arhmm": 1e6, "full": 1e6},
        "total_syllables": 5,
        "syllables_90pct_frames": 3,
        "results_in_window": False,
    }
    summary["search"] = {k: {**v, "final_in_window": True} for k, v in summary["search"].items()}
    summary["seeds"].update({"eml": {"2": -1.0}})
    metrics = headline_metrics(summary)
    assert metrics["in_window"] == {"arhmm": 1, "full": 1, "results": 0}
