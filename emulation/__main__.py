"""``python -m emulation serve`` (``make twin``) and ``python -m emulation e2e`` (``make e2e``)."""

import gc

from emulation.cli import main

status = main()
gc.freeze()  # no final collections over the twin's objects: deploy.cli.main.entry says why
raise SystemExit(status)
