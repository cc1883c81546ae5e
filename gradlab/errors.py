"""The one error type gradlab raises for a misuse of its API."""


class GradlabError(ValueError):
    """Bad arguments to a gradlab function: the message says what is wrong and how to fix it."""
