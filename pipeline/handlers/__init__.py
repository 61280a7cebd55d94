"""Lambda entry points. Each handler reads its configuration from environment variables that
the template sets, and imports only the standard library, boto3 and ``pipeline``."""

from __future__ import annotations

import logging


def configure_logging() -> None:
    """Make INFO lines visible: Lambda's runtime installs a root handler, a bare process doesn't."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)
