"""segue: an open-source AI DJ.

Give it a folder of music and, optionally, who is listening; it analyses every
track, orders them for flow, writes and speaks a short link before each one and
mixes everything into one continuous, loudness-matched set.
"""

__version__ = "0.1.0"
