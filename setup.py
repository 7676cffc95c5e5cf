"""The compiled pieces: verify's leaf hashing loop (audit/_native.c, linked to OpenSSL) and
bulk import's row check (registry/_native*.c, one module from several files, at -O3: its per-byte
loops are faster than at -O2; docs/performance.md, "Native row check").

Both are optional: without a compiler (or OpenSSL's headers) the package still installs, and
verify and import use their pure-Python paths (the same verdicts, several times slower).
"""

from setuptools import Extension, setup

# registry._native by concern: the module itself, then CSV reading, the record rules and their
# code lists, sorting, and COPY's binary format (registry/_native.c lists what each holds).
REGISTRY_PARTS = ("", "_csv", "_rules", "_codes", "_sort", "_binary")

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
            sources=[f"registry/_native{part}.c" for part in REGISTRY_PARTS],
            depends=["registry/_native.h"],
            # Link-time optimisation: the row check inlines across its files as in one file.
            extra_compile_args=["-O3", "-flto", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            extra_link_args=["-O3", "-flto"],
            optional=True,
        ),
    ]
)
