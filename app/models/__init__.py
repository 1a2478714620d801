"""The ORM model, one module per aggregate. Import from here."""

from app.db import Base
from app.models.challenge import (
    Case,
    Challenge,
    FinalRule,
    LogVisibility,
    MissingCasePolicy,
    Phase,
    PhaseAnalysis,
    TestSet,
)
from app.models.run import CaseOutcome, CaseStatus, EvaluationRun, Score, ScoreSubset
from app.models.submission import Submission, SubmissionLock, SubmissionState
from app.models.user import User

__all__ = [
    "Base",
    "Case",
    "CaseOutcome",
    "CaseStatus",
    "Challenge",
    "EvaluationRun",
    "FinalRule",
    "LogVisibility",
    "MissingCasePolicy",
    "Phase",
    "PhaseAnalysis",
    "Score",
    "ScoreSubset",
    "Submission",
    "SubmissionLock",
    "SubmissionState",
    "TestSet",
    "User",
]
