"""Errors the handlers raise; the engine turns them into replies."""


class InputRejected(Exception):
    """The user's input cannot be accepted; tell them why and stay at the same step."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message
