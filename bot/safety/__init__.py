"""Screening patients' messages for risk language, from a clinician-reviewed lexicon."""
