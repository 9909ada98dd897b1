"""Departures from the study's text: one record per setting where the project's default differs from it.

A task lists them as ``DEPARTURES`` in its module; ``study_values`` gives the
``Task.study`` mapping that ``--settings=study`` applies (explicit flags still
win), and ``symjax.report.departures`` turns them, with ablation runs, into the
report's "Departures and their effect" section. The record and ``study_values``
live in ``symjax.report.departures`` (the report layer, below the tasks); this
module re-exports them for the tasks.
"""

from symjax.report.departures import Departure, study_values

__all__ = ["Departure", "study_values"]
