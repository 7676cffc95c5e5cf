"""The compiled pieces: verify's leaf hashing loop (audit/_native.c, linked to OpenSSL) and
bulk import's row check (registry/_native.c, at -O3: its per-byte loops checked generated
rows in 2.7-2.9 us each against 3.4-3.6 us at -O2, alternating builds on one machine).

Both are optional: without a compiler (or OpenSSL's headers) the package still installs, and
verify and import use their pure-Python paths (the same verdicts, several times slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "audit._native",
            sources=["audit/_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        ),
        Extension(
            "registry._native",
            sources=["registry/_native.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        ),
    ]
)
