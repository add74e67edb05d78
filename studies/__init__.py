"""Research scripts behind docs/quality.md, run from the repository root (`python -m studies.study ...`).

Not installed with the package, and nothing in the product imports them.
"""
