"""The one compiled piece: verify's leaf hashing loop (audit/_native.c), linked to OpenSSL.

Optional: without a compiler or OpenSSL's headers the package still installs, and verify
uses its pure-Python path (the same verdicts, several times slower).
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
        )
    ]
)
