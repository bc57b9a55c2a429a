"""The HTTP service behind ``segue serve``: a paced, narrated stream and a small web player."""

from segue.service.app import create_app

__all__ = ["create_app"]
