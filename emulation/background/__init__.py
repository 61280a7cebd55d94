"""A twin that stays up in the background: its process (``process``) and its record (``state``)."""
