"""The twin: moto in-process plus the parts no emulator provides, one package per AWS service.

See emulation/README.md for the map.
"""
