"""The HTTP service behind ``segue serve``: a broadcast station, personal sessions, a web player."""

from segue.service.app import create_app

__all__ = ["create_app"]
