"""``python -m deploy``: the ``asr-monitor`` command line (``deploy.cli.main``).

``up`` and ``down`` are the old names of ``deploy`` and ``delete``, kept as aliases.
"""

from deploy.cli.main import build_parser, entry, main, parse_params

__all__ = ["build_parser", "main", "parse_params"]

if __name__ == "__main__":
    entry()
