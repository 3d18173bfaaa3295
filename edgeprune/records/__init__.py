"""Typed, versioned records for every file edgeprune writes and reads back (see ``base``)."""
from .base import Record
from .bench import BenchFile, BenchRow, Latency
from .checkpoint import CheckpointState, PlateauState
from .export import ExportRecord, ExportRow, ModelCard, SourceRun
from .latency import LatencyRow, LatencyTable, ModelSignature, ProbeFile, ProbeManifest, Segment
from .optimize import OptimizeCandidate, OptimizeRecord
from .pruning import FilterLayer, FilterSection, PruningRecord, WeightSection
from .run import ControlScores, ParentRef, RunRecord
from .sensitivity import LayerSensitivity, SensitivityRecord
from .sweep import SweepCell

__all__ = ["Record", "BenchFile", "BenchRow", "Latency", "CheckpointState", "PlateauState", "ExportRecord",
           "ExportRow", "ModelCard", "SourceRun", "ControlScores", "ParentRef", "RunRecord", "LayerSensitivity",
           "SensitivityRecord", "SweepCell", "LatencyRow", "LatencyTable", "ModelSignature", "ProbeFile", "ProbeManifest",
           "Segment", "OptimizeCandidate", "OptimizeRecord", "FilterLayer", "FilterSection", "PruningRecord", "WeightSection"]
