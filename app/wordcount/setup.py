# pyproject.toml holds the metadata; only the C extension needs code to declare.
from setuptools import Extension, setup

setup(ext_modules=[Extension("wordcount._wordcount", sources=["src/wordcount/_wordcount.c"])])
