"""The chapters' experiments: training loops, sweeps, toy problems and probes.

One module per chapter key (``experiments/<topic>.py``). Each run takes a config dataclass
(every default with its reason) plus its data, and returns a small result dataclass. They use
the math modules (``mlnotes_lib/<topic>.py``) and never draw: drawing is in ``plots/<topic>.py``.
"""
