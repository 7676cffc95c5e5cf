"""The compiled pieces: verify's leaf hashing loop (audit/_native.c, linked to OpenSSL) and
bulk import's row check (registry/_native.c, at -O3: its per-byte loops are faster than at
-O2; docs/performance.md, "Native row check").

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
