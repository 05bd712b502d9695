"""What the acoustic ``matrix`` stage scripts (variant x prediction setting) share.

``acoustic_predict``, ``acoustic_evaluate``, ``acoustic_rf_train`` and ``acoustic_rf_filter`` each
take ``<variant> <setting>`` on the command line, validate both against ``params.yaml`` and read the
variant's ``variant_index.json``; :func:`matrix_item` does that once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ethoflow.acoustic.params import AcousticParams, PredictSetting
from ethoflow.core import load_section, read_json
from ethoflow.core.stage import stage_parser

#: a variant's index (recordings, classes, tape roles), written by ``acoustic_variants``.
VARIANT_INDEX = "data/interim/acoustic/variants/{variant}/variant_index.json"


@dataclass
class MatrixItem:
    """One (variant, setting) item of a matrix stage.

    Attributes:
        variant, setting_name: the command-line names; ``name`` is ``"<variant>-<setting>"``, the
            folder and file stem of the item's outputs.
        cfg: the validated ``acoustic`` params; ``setting``: the prediction setting (seq_len_s, hop_s).
        vindex: the variant's ``variant_index.json``; ``params``: the params file's path.
    """

    variant: str
    setting_name: str
    name: str
    cfg: AcousticParams
    setting: PredictSetting
    vindex: dict[str, Any]
    params: str


def matrix_item(doc: str, argv: list[str] | None = None) -> MatrixItem:
    """Parse ``[--params P] <variant> <setting>``, validate both names and read the variant index.

    Raises:
        ParamsError: bad params, or a variant or setting ``params.yaml`` does not define (named).
        InputError: the variant index is missing (``acoustic_variants`` has not run).
    """
    parser = stage_parser(doc)
    parser.add_argument("variant")
    parser.add_argument("setting")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    cfg.variant(args.variant, args.params)
    setting = cfg.setting(args.setting, args.params)
    vindex = read_json(VARIANT_INDEX.format(variant=args.variant))
    return MatrixItem(args.variant, args.setting, f"{args.variant}-{args.setting}", cfg, setting, vindex, args.params)
