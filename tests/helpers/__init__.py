"""What several test modules share: fakes of the peers, harnesses, builders of test data.

A test module imports from here (``from helpers.hydrus_fake import FakeHydrus``),
never from another test module; fixtures that many modules use are in conftest.py.
"""
