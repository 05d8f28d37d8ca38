"""DONA: a grounded product assistant for online shops.

The core package has no UI imports: the Streamlit pages (`ui/`) and the CLI (`dona.cli`)
are thin shells over `dona.service`.
"""

__version__ = "0.1.0"
