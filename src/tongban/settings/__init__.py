"""Settings, split by environment: base (shared), dev, test, production.

Every value a node operator may change is read from the environment in ``base``;
the environment modules only change defaults.
"""
