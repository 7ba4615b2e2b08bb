# pyproject.toml holds the metadata; only the C extension needs code to declare.
# libraries=["yaml"]: the extension links libyaml (libyaml-0.so.2), a library Debian packages apart.
from setuptools import Extension, setup

setup(ext_modules=[Extension("yamlstats._yamlstats", sources=["src/yamlstats/_yamlstats.c"], libraries=["yaml"])])
