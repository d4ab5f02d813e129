"""The web studio (``stylebank serve``): a page to paint styles onto regions of a photo, and the HTTP API it and
scripts call. Needs the ``web`` extra (Starlette, uvicorn, python-multipart)."""
