"""The one C extension: the ledger's row hashing (engine/store/_sealc.c), built when a C compiler and
OpenSSL's headers are present. It is optional: without it the ledger hashes in Python
(engine/store/ledger_rows.py, the definition), byte for byte the same, about half as fast."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("engine.store._sealc", ["engine/store/_sealc.c"], libraries=["crypto"],
                             extra_compile_args=["-O2"], optional=True)])
