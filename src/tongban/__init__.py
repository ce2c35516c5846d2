"""tongban (通办): a platform for China's cross-province government services."""

__version__ = "0.1.0"

# The hub (national platform) is a node like the others, with code 100000.
HUB_NODE_CODE = "100000"
