"""The run report: one self-contained HTML page (no script, no external asset) per run.

page.py      the view: what the page shows, built from the run summary and the history
svg.py       the inline charts: corpus WER over runs, per-file sparklines
templates/   the Jinja2 template
"""
