"""Mixing: cue decisions, the timeline, the block renderer, encoders and artifacts."""
