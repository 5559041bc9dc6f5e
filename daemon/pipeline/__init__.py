"""The indexing pipeline: decoded images fed to every model stage, in batches.

The scanner (``library.scan``) records each new content once; model stages
then pick up the images whose ``stage`` row is missing or was written by
another ``model_id`` (see ``SqliteCatalog.pending_for_stage``) and record their
results and errors per image with ``SqliteCatalog.record_stage``.
"""
