"""The training engine's sampler: items from (seed, epoch) alone, and a resumed epoch skips those served."""

from ethoflow.core.training import EpochSampler


def test_epoch_sampler_draws_from_seed_and_epoch_and_resumes_inside_an_epoch():
    s = EpochSampler(10, seed=3)
    s.set_epoch(2)
    full = list(s)
    assert sorted(full) == list(range(10)) and list(EpochSampler(10, seed=3)) != full  # epoch 0 differs
    it = iter(s)
    head = [next(it) for _ in range(4)]
    state = s.state_dict()
    assert state == {"epoch": 2, "served": 4} and head == full[:4]
    again = EpochSampler(10, seed=3)  # a fresh process after a kill
    again.load_state_dict(state)
    again.set_epoch(2)
    assert list(again) == full[4:]
    assert list(again) == full  # the skip applies to the resumed iteration only
    again.load_state_dict(state)
    again.set_epoch(3)  # a checkpoint from the end of epoch 2: epoch 3 starts from its first item
    assert len(list(again)) == 10
