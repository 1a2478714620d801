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
from app.models.membership import ChallengeOrganiser, JoinPolicy, Participation, ParticipationStatus
from app.models.reevaluation import Reevaluation, ReevaluationRun, ReevaluationRunState, ReevaluationSelection
from app.models.run import CaseOutcome, CaseStatus, EvaluationRun, Score, ScoreSubset
from app.models.shard import ShardState, SubmissionShard
from app.models.site import Site, SitePartState, SubmissionSitePart, TestSetPart
from app.models.submission import Submission, SubmissionLock, SubmissionState
from app.models.team import Team, TeamInvitation, TeamMember
from app.models.upload import PartedUpload
from app.models.user import ApiToken, SignInAttempt, User

__all__ = [
    "ApiToken",
    "Base",
    "Case",
    "CaseOutcome",
    "CaseStatus",
    "Challenge",
    "ChallengeOrganiser",
    "EvaluationRun",
    "FinalRule",
    "JoinPolicy",
    "LogVisibility",
    "MissingCasePolicy",
    "PartedUpload",
    "Participation",
    "ParticipationStatus",
    "Phase",
    "PhaseAnalysis",
    "Reevaluation",
    "ReevaluationRun",
    "ReevaluationRunState",
    "ReevaluationSelection",
    "Score",
    "ScoreSubset",
    "ShardState",
    "SignInAttempt",
    "Site",
    "SitePartState",
    "Submission",
    "SubmissionLock",
    "SubmissionShard",
    "SubmissionSitePart",
    "SubmissionState",
    "Team",
    "TeamInvitation",
    "TeamMember",
    "TestSet",
    "TestSetPart",
    "User",
]
