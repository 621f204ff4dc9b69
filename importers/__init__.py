"""Importers: integrators' own formats (CSV exports, DATEX II) turned into readings of the input
topic's contract (``aiguilleur.traffic-counts.v1``), with every rejected row named and explained.

Pure apart from reading the files it is given: no Kafka, no clock.
"""

from importers.csv_import import import_csv
from importers.datex2 import import_datex2
from importers.errors import ImporterError, ImportFileError, MappingError
from importers.mapping import PARIS, PRESETS, SIREDO, CsvMapping, load_mapping, resolve_mapping
from importers.model import ImportResult, Rejected, write_replay_csv

__all__ = [
    "PARIS",
    "PRESETS",
    "SIREDO",
    "CsvMapping",
    "ImportFileError",
    "ImportResult",
    "ImporterError",
    "MappingError",
    "Rejected",
    "import_csv",
    "import_datex2",
    "load_mapping",
    "resolve_mapping",
    "write_replay_csv",
]
