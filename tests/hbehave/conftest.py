"""hbehave tests run torch on one thread. The tiny store, params and trained model are shared fixtures
(``tests/fixtures``: ``tiny_store``, ``tiny_params``, ``tiny_hbehave_model``)."""

from __future__ import annotations

import torch

from tests.fixtures.tiny import HBEHAVE_MODEL as TINY_MODEL  # noqa: F401 - the name tests/hbehave/test_train.py imports

torch.set_num_threads(1)
