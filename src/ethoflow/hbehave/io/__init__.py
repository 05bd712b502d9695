"""Readers of raw home-cage activity: Digital Ventilated Cage per-cage CSVs + summary, and DAM2/DAM5 monitor files.

Every reader returns :class:`~ethoflow.hbehave.store.CageRecord` objects on a complete minute grid
plus a per-cage report of what the rules did. The rules (documented in ``docs/hbehave.md``):

- **Unparseable timestamp**: the row cannot be placed on the grid; it is left out and counted
  (``bad_timestamps``, first row numbers listed).
- **Seconds**: timestamps are floored to the minute (``off_minute_rows`` counts those that had seconds).
- **Unsorted rows**: sorted by time (stable); ``unsorted_rows`` counts rows earlier than their predecessor.
- **Duplicate minutes**: merged by ``duplicates`` = ``mean`` (valid values per channel), ``first``,
  ``last`` or ``error``; ``duplicate_rows`` (extra rows), ``conflicting_duplicates`` (minutes whose
  copies differ).
- **Non-numeric values** (e.g. ``ERR``) and empty cells: NaN and ``valid=False`` for that channel and
  minute only; counted as ``non_numeric_values`` / ``empty_values``.
- **Gaps**: the grid spans the summary's ``[from_tpt, to_tpt)`` (else first to last row); minutes
  without a row are NaN / ``valid=False``; ``gap_minutes`` and ``gaps`` (start, length) report them.
- **Rows outside the summary window**: left out, counted (``outside_window_rows``).
- **Cages missing from the summary**: kept with unknown metadata (or an error, by params);
  summary rows without a CSV are reported (``summary_without_data``).
- **DAM status column**: ``1`` = valid reading; any other code (``51`` = no data from the monitor)
  marks that reading invalid for every tube; counts per code in ``status_codes``.
- **DAM reading interval** N > 1 minute: each reading's count covers the N minutes ending at its
  timestamp and is spread evenly over them (counts per minute), so totals are kept.
- **DAM5 (multibeam)**: only the rows of one data type (column 8, ``CT`` counts by default) are read;
  the other types (``C1``-``C4``, ``D1``-``D4``, ``Pn``, ``TA``) are left out and counted.
- **DAM interval not a whole number of minutes** (e.g. 131 s): readings are spread onto minutes by
  overlap (:func:`resample_to_minutes`); a minute is valid when valid readings cover at least
  ``min_valid_fraction`` of it.
- **Damaged DAM rows** (column count, date, time, status; counts non-numeric, negative or above
  ``max_count``): ``on_bad_row="fail"`` raises ``<file>: line N: ... in column C (...)``; ``skip``
  leaves the row (a bad count: that tube's value) out and reports it (:func:`read_dam_readings`).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "dam": ("DamOptions", "read_dam"),
    "dam_readings": (
        "DAM5_DATA_TYPES",
        "DAM_CHANNELS",
        "ROW_PROBLEMS",
        "VALUE_PROBLEMS",
        "DamProblem",
        "DamReadings",
        "check_duplicate_readings",
        "parse_dam_datetime",
        "read_dam_readings",
    ),
    "grid": ("grid_from_rows", "resample_to_minutes"),
    "inputs": ("dam_rows_summary", "read_inputs"),
    "summary": ("read_summary",),
    "ventilated_cage": ("read_ventilated_cage_csv",),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
