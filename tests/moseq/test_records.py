"""The fits read their specs as typed records (TrialSpec, FinalFitSpec, SeedSpec): a spec with a
missing or mistyped key fails before any fitting, naming the spec and the key."""

from __future__ import annotations

import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq import fit
from ethoflow.moseq.records import SeedSpec, TrialSpec, read_spec

TRIAL = {"kind": "arhmm", "project_dir": "/p", "name": "arhmm-trial-03", "kappa": 1e6, "iters": 5, "seed": 0}


def test_a_valid_trial_spec_reads_as_typed_fields():
    spec = read_spec({**TRIAL, "keypoints": "k.p", "pca_dir": "pca", "num_states": 7}, TrialSpec, "fit_trial spec")
    assert spec.kappa == 1e6 and spec.num_states == 7 and spec.seg_length is None and spec.options == {}


def test_bad_specs_name_the_spec_and_the_key():
    with pytest.raises(InputError, match=r"fit_trial spec arhmm-trial-03: TrialSpec key kappa"):
        fit.fit_trial({**TRIAL, "kappa": "big", "keypoints": "k.p", "pca_dir": "pca"})
    with pytest.raises(InputError, match=r"arhmm-trial-03.*needs \['keypoints', 'pca_dir'\]"):
        fit.fit_trial(TRIAL)
    with pytest.raises(InputError, match=r"continue_fit spec full: FinalFitSpec key trial_name: Field required"):
        fit.continue_fit({"kind": "full", "project_dir": "/p", "final_name": "full", "end_iter": 20})
    seed = {"project_dir": "/p", "name": "seed-01", "seed": 1, "keypoints": "k.p", "pca_dir": "pca"}
    with pytest.raises(InputError, match=r"fit_seed spec seed-01: SeedSpec key arhmm_kappa"):
        fit.fit_seed({**seed, "full_kappa": 1e4, "arhmm_iters": 5, "full_iters": 5})
    assert (
        read_spec(
            {**seed, "arhmm_kappa": 1e6, "full_kappa": 1e4, "arhmm_iters": 5, "full_iters": 5}, SeedSpec, "s"
        ).full_iters
        == 5
    )
