"""Every storage key Podium writes, in one place: what lives where in the artifact store.

    challenges/<challenge>/public/<file>                          public files of a challenge
    challenges/<challenge>/<phase>/test-sets/v<n>-<hash>/...       a test set version: cases.csv,
        inputs/<case>/<path>, ground_truth/<case>/<path>          (hidden: workers only)
    challenges/<challenge>/<phase>/evaluators/<digest>.tar         an organiser's evaluation container
    challenges/<challenge>/<phase>/readers.csv                     human readers' scores
    analyses/phase-<phase id>/<time stamp>/<figure>.svg             figures of a phase analysis
    submissions/<id>/upload.tar[.gz]                               the participant's image archive
    submissions/<id>/outputs/<case>/<path>                         what the container wrote
    submissions/<id>/logs/{stdout,stderr}.txt                      the container's logs
    submissions/<id>/logs/evaluator-{stdout,stderr,error}.txt      the organiser's evaluator's logs
    codabench-imports/<token>/{bundle.zip,status.json}             a Codabench bundle uploaded on the site, and
                                                                   its import's state and report
    submissions/<id>/test-sets/<test set id>/{outputs,logs}/...    a re-evaluation's run on another version
    submissions/<id>/logs/site-<site>-v<test set id>-<stream>.txt  a site's logs, where the phase shows them

In a SITE's own storage (docs/sites.md; the centre never reads it):

    challenges/<challenge>/<phase>/site-test-sets/<hash[:16]>/...  the site's part of a test set, laid out as a
        cases.csv, inputs/, ground_truth/, cases.json              central test set, plus cases.json (each case's
                                                                   inputs, as the site worker's /input/cases.json)
"""

from __future__ import annotations

from typing import Literal

LogStream = Literal["stdout", "stderr"]
EvaluatorLog = Literal["evaluator-stdout", "evaluator-stderr", "evaluator-error"]


def public_file(challenge: str, name: str) -> str:
    return f"challenges/{challenge}/public/{name}"


def test_set_prefix(challenge: str, phase: str, version: int, content_hash: str) -> str:
    return f"challenges/{challenge}/{phase}/test-sets/v{version}-{content_hash[:12]}"


def test_set_file(prefix: str, relative: str) -> str:
    return f"{prefix}/{relative}"


def case_input(prefix: str, case_id: str, relative: str) -> str:
    return f"{prefix}/inputs/{case_id}/{relative}"


def case_ground_truth(prefix: str, case_id: str, relative: str) -> str:
    return f"{prefix}/ground_truth/{case_id}/{relative}"


def evaluator_archive(challenge: str, phase: str, digest: str) -> str:
    return f"challenges/{challenge}/{phase}/evaluators/{digest[:16]}.tar"


def readers_file(challenge: str, phase: str) -> str:
    return f"challenges/{challenge}/{phase}/readers.csv"


def submission_upload(submission_id: int, *, compressed: bool) -> str:
    return f"submissions/{submission_id}/upload.tar" + (".gz" if compressed else "")


def submission_output(submission_id: int, relative: str) -> str:
    return f"submissions/{submission_id}/outputs/{relative}"


def submission_log(submission_id: int, stream: LogStream | EvaluatorLog) -> str:
    return f"submissions/{submission_id}/logs/{stream}.txt"


def analysis_figure(phase_id: int, stamp: str, name: str) -> str:
    return f"analyses/phase-{phase_id}/{stamp}/{name}"


def codabench_import(token: str, name: str) -> str:
    return f"codabench-imports/{token}/{name}"


def shard_log(submission_id: int, shard: int, stream: LogStream) -> str:
    """One shard's log of a sharded run (app/pipeline/shards.py); the run's own log joins them."""
    return f"submissions/{submission_id}/logs/shard-{shard}-{stream}.txt"


def site_test_set_prefix(challenge: str, phase: str, content_hash: str) -> str:
    """A site's part of a phase's test set, in the SITE's storage (app/usecases/site_cases.py)."""
    return f"challenges/{challenge}/{phase}/site-test-sets/{content_hash[:16]}"


def site_part_log(submission_id: int, test_set_id: int, site: str, stream: LogStream) -> str:
    """A site's container logs of its part of a run on a test set version, copied to central storage only where the
    phase shows participants their full logs (app/pipeline/site_part.py); otherwise they stay in the site's storage."""
    return f"submissions/{submission_id}/logs/site-{site}-v{test_set_id}-{stream}.txt"


# ---- a submission's runs on other test set versions (re-evaluations: app/pipeline/reevaluation.py) ---------------

def version_prefix(submission_id: int, test_set_id: int) -> str:
    """Where a re-evaluation keeps what a submission's run on one test set version wrote (beside its own run's)."""
    return f"submissions/{submission_id}/test-sets/{test_set_id}"


def version_output(submission_id: int, test_set_id: int, relative: str) -> str:
    return f"{version_prefix(submission_id, test_set_id)}/outputs/{relative}"


def version_log(submission_id: int, test_set_id: int, stream: LogStream | EvaluatorLog) -> str:
    return f"{version_prefix(submission_id, test_set_id)}/logs/{stream}.txt"
