"""The bundled model's first four styles, as the tests that use the bundled model name them: through these, so that
retraining the bundled model with other paintings changes no test (only the golden pictures, on purpose)."""

from stylebank.backends.auto import style_names

FIRST, SECOND, THIRD, FOURTH = style_names(None)[:4]
