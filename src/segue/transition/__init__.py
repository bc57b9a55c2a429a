"""The transition stage: how each track hands over to the next, decided once.

:mod:`.cues` chooses the kind of transition and its cue points from two tracks'
analyses, :mod:`.ear` and :mod:`.refine` listen to the audio where they meet to
check and refine a beatmatch, and :mod:`.handover` bundles the result (the cue,
the post, the talk window) into one :class:`~.handover.Handover` that the script
stage (how many words fit) and the layout (where everything sits) both read.
"""
