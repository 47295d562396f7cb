from tests.fakes import app, channel, clock

__all__ = ["app", "channel", "clock"]  # fixtures for the tests in this folder
