"""The application layer: the ``tailshift`` command line, the quickstart and the submission of a
model (predict, validate, score every role of a split). Nothing below imports it."""
