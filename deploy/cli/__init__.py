"""``asr-monitor`` (also ``python -m deploy``): the command line on the user's machine.

It acts on AWS or on a twin through the same code; the twin's own commands (``twin start |
stop | status``, ``e2e``) are delegated to ``emulation``, which is loaded only for them.
"""
