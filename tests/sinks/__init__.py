"""The sinks' own tests: each drives the HTTP or mail sink with a ``FakeHost`` (``_fakehost.py``) instead of a
``Simulation``. ``conftest.py`` holds the ``host`` and ``mail`` fixtures they share; as a package, this folder
keeps ``tests/`` on the import path for the helpers there (``_loopback``, ``_deep``)."""
