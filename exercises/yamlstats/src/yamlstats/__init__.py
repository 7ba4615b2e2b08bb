"""Count the documents, mappings, sequences and scalars of a YAML text, with libyaml's parser."""

from yamlstats._yamlstats import libyaml_version, stats

__all__ = ["libyaml_version", "stats"]
