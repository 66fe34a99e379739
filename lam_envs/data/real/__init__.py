"""Loaders for the real datasets (MMRole, PCogAlignBench) in their published formats.

Each loader reads the files as distributed, validates every record of the requested split at the boundary (fields,
types, dialogue shape, profiles, image files) and returns typed :class:`~lam_envs.data.types.Sample` objects split
as in the paper. Bad records raise a :class:`DatasetError` that names the file, the record and the fix, or, with
``on_error="skip"``, are left out and counted in a :class:`LoadReport`.
"""

from __future__ import annotations

from lam_envs.data.real.errors import DatasetError, LoadReport, SkippedRecord
from lam_envs.data.real.mmrole import load_character_profiles, load_mmrole, load_mmrole_with_report
from lam_envs.data.real.pcogalign import load_pcogalign, load_pcogalign_with_report, role_set_text

__all__ = [
    "DatasetError",
    "LoadReport",
    "SkippedRecord",
    "load_character_profiles",
    "load_mmrole",
    "load_mmrole_with_report",
    "load_pcogalign",
    "load_pcogalign_with_report",
    "role_set_text",
]
