"""Departures from the study's text: one record per setting where the project's default differs from it.

A task lists them as ``DEPARTURES`` in its module; ``study_values`` gives the
``Task.study`` mapping that ``--settings=study`` applies (explicit flags still
win), and ``symjax.report.departures`` turns them, with ablation runs, into the
report's "Departures and their effect" section.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class Departure:
    """One place where the project's default differs from (or has to choose a reading of) the study's text.

    flag: the option (command-line flag without --) that controls it;
    what: the setting, in words;
    study_text: what the study says (with its section), or that it is silent;
    study: the option value that restores the study's setting; None when the
      study gives no value (then --settings=study leaves the project's default).
    """

    flag: str
    what: str
    study_text: str
    study: object = None


def study_values(departures: Sequence[Departure]) -> dict:
    """{flag: study value} of the departures whose study value is known (``Task.study``)."""
    return {d.flag: d.study for d in departures if d.study is not None}
