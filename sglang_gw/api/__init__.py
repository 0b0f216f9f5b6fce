"""The public API's request schemas and their checks, below every layer that uses them.

`protocol.py` holds the request bodies (msgspec structs validated at decode time) and
`validation.py` the checks a schema alone cannot express. The server decodes bodies with
them, the pipeline reads them; neither imports the other for it.
"""
