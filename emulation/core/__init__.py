"""The twin's core: the Twin object and its part protocol, the moto server, patching, errors,
backends, composition (``build``) and inspection. Services live beside it, one package each.

Deliberately empty: each module is imported by name, so a service importing ``core.twin`` never
pulls in ``core.build`` (which imports every service).
"""
