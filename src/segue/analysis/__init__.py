"""Track analysis: decode → features → :class:`~segue.models.TrackAnalysis`."""

from segue.analysis.analyze import analyze_file, analyze_samples

__all__ = ["analyze_file", "analyze_samples"]
