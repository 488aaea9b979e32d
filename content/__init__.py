"""Wording, timetable and labels: everything a person reads, kept apart from the code."""
