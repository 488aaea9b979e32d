"""Sample variables for each content folder's templates: `<folder>.py` holds `SAMPLES`.

They add to (and may replace) the shared samples in tests/test_content.py for templates in
`content/<folder>/` only, so two flows can use the same variable name for different things.
"""
