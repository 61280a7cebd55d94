"""``python -m emulation serve`` (``make twin``) and ``python -m emulation e2e`` (``make e2e``)."""

from emulation.cli import main

raise SystemExit(main())
