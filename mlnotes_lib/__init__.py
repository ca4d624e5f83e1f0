"""mlnotes_lib: the code behind the mlnotes interactive textbook.

Importing the package has no side effects (no seeds, styles or rcParams); import the
topic modules you need, e.g. ``from mlnotes_lib import conv, widgets``.
"""

__version__ = "0.1.0"
