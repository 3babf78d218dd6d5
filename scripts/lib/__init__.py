"""The library the entry points in ``scripts/`` share; nothing here is run as a command.

Imports point downward: ``scripts/<command>.py`` -> ``scripts.lib.*`` -> ``rewards``, ``data``.
"""
