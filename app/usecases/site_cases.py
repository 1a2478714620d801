"""Sites and their cases (docs/sites.md): registering a site, and loading a site's cases from the site's own machine.

`load_site_cases` runs at the site. It reads a local folder laid out as a central test set (cases.csv, inputs/,
ground_truth/; the same checks), writes every file to the SITE's storage only, and registers centrally a new test
set version of the phase that lists the case ids, their cases.csv metadata and the site holding each one. The
central database never receives an input or a ground-truth value, and the central store receives nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.challenge_yaml import SITE_NAME_PATTERN, PhaseSpec
from app.errors import Conflict, InvalidFields, NotFound, ServiceError
from app.models import Case, Phase, Site, TestSet, TestSetPart
from app.queries.challenge_spec import phase_spec_of
from app.storage import ArtifactStore, keys
from app.usecases.apply_challenge import SITES_STORAGE_PREFIX
from app.usecases.reevaluation import adopt_new_version, switch_hint
from app.usecases.test_set_folder import TestSetContent, TestSetError, read_test_set

SITE_COLUMN = "site"  # the cases.csv column every site's cases get, holding the site's name
CASES_JSON = "cases.json"


class SiteCasesError(ServiceError):
    """A site's cases cannot be loaded; the message says what to fix. Nothing was written centrally."""


@dataclass
class SiteCasesReport:
    """What loading a site's cases did: the phase's test set version that holds them (new or unchanged)."""

    version: int
    created: bool
    case_count: int  # this site's cases
    became_current: bool
    message: str
    total_case_count: int = 0  # every site's cases in that version


# ---- registering sites ------------------------------------------------------------------------------------------

def add_site(session: Session, name: str, *, title: str = "") -> Site:
    """Register a site (an admin, on the central database): its name is its queue's and its workers' name."""
    if not re.match(SITE_NAME_PATTERN, name):
        raise InvalidFields({"name": f"site name {name!r}: use 1-64 lower-case letters, digits and '-' (not at "
                                     "either end), e.g. radboud or lumc-radiology"})
    if session.scalar(select(Site.id).where(Site.name == name)) is not None:
        raise Conflict(f"a site named {name!r} is already registered")
    site = Site(name=name, title=title.strip()[:200])
    session.add(site)
    session.flush()
    return site


def list_sites(session: Session) -> list[Site]:
    """Every registered site, by name."""
    return list(session.scalars(select(Site).order_by(Site.name)))


# ---- loading a site's cases ----------------------------------------------------------------------------------

def load_site_cases(session: Session, site_store: ArtifactStore, *, site_name: str, phase: Phase,
                    folder: Path) -> SiteCasesReport:
    """Load `folder` (a test set folder on the site's machine) as site `site_name`'s part of `phase`'s test set.

    Files go to `site_store` (the site's own storage) under keys.site_test_set_prefix; the central database gets a
    new TestSet version (storage_prefix "sites") with every site's cases (keys, metadata, site; no inputs) and one
    TestSetPart per site. The same files as this site's part of the newest version: nothing new (created False),
    unless that version holds cases of a site the phase no longer names (they are left out of the new one).
    """
    site = _site(session, site_name)
    where = f"{phase.challenge.slug}/{phase.slug}"
    if site_name not in (phase.sites or []):
        held = (f"its sites are {', '.join(phase.sites)}" if phase.sites else
                "its test set is held centrally (challenge.yaml gives it a test_set, not sites)")
        raise SiteCasesError(f"phase {where} is not held at site {site_name!r}: {held}")
    content = _read_folder(folder, phase)
    latest = _latest_sites_version(session, phase)
    parts = {part.site_id: part for part in _parts(session, latest)} if latest else {}
    sites_by_id = {s.id: s for s in session.scalars(select(Site).where(Site.name.in_(phase.sites)))}
    own = parts.get(site.id)
    if (latest is not None and own is not None and own.content_hash == content.content_hash
            and set(parts) <= set(sites_by_id)):
        return SiteCasesReport(
            version=latest.version, created=False, case_count=own.case_count, became_current=False,
            total_case_count=latest.case_count,
            message=(f"Nothing new: the cases in {folder} are the same files site {site_name} loaded for {where} "
                     f"in test set v{latest.version} ({own.case_count} cases at this site, {latest.case_count} in "
                     f"all); no new version was made."))

    others = [c for c in (latest.cases if latest else []) if c.site_id in sites_by_id and c.site_id != site.id]
    _refuse_collisions(content, others, sites_by_id, where)
    _check_columns(content, phase, folder)

    prefix = keys.site_test_set_prefix(phase.challenge.slug, phase.slug, content.content_hash)
    _write_to_site(site_store, prefix, content)

    kept_parts = [p for p in parts.values() if p.site_id in sites_by_id and p.site_id != site.id]
    version = (session.scalar(select(func.max(TestSet.version)).where(TestSet.phase_id == phase.id)) or 0) + 1
    hashes = sorted([f"{sites_by_id[p.site_id].name}:{p.content_hash}" for p in kept_parts]
                    + [f"{site.name}:{content.content_hash}"])
    columns = list(latest.metadata_columns if latest else [])
    columns += [c for c in [SITE_COLUMN, *content.metadata_columns] if c not in columns]
    test_set = TestSet(phase_id=phase.id, version=version, storage_prefix=SITES_STORAGE_PREFIX,
                       content_hash=hashlib.sha256("\n".join(hashes).encode()).hexdigest(),
                       case_count=len(others) + len(content.cases), metadata_columns=columns)
    test_set.cases = [Case(case_key=c.case_key, meta=dict(c.meta), site_id=c.site_id, inputs={}) for c in others]
    test_set.cases += [Case(case_key=c.case_id, meta={**c.meta, SITE_COLUMN: site.name}, site_id=site.id, inputs={})
                       for c in content.cases]
    session.add(test_set)
    session.flush()
    for part in kept_parts:
        session.add(TestSetPart(test_set_id=test_set.id, site_id=part.site_id, storage_prefix=part.storage_prefix,
                                content_hash=part.content_hash, case_count=part.case_count,
                                loaded_at=part.loaded_at))
    session.add(TestSetPart(test_set_id=test_set.id, site_id=site.id, storage_prefix=prefix,
                            content_hash=content.content_hash, case_count=len(content.cases)))
    became_current = adopt_new_version(session, phase, test_set)  # not while the phase ranks on a scored version
    hint = None if became_current else switch_hint(phase, test_set)
    session.flush()
    return SiteCasesReport(version=version, created=True, case_count=len(content.cases),
                           became_current=became_current, total_case_count=test_set.case_count,
                           message=_message(site.name, where, test_set, len(content.cases), len(kept_parts) + 1,
                                            hint))


def _site(session: Session, name: str) -> Site:
    site = session.scalar(select(Site).where(Site.name == name))
    if site is None:
        raise NotFound(f"no site named {name!r} is registered; an admin registers it on the central database with "
                       f"`podium site add {name}`")
    return site


def _read_folder(folder: Path, phase: Phase) -> TestSetContent:
    """The folder, read and checked as a central test set of this phase is."""
    try:
        spec = PhaseSpec.model_validate(phase_spec_of(phase))
    except ValidationError as exc:  # the phase was applied from a valid challenge.yaml; this is not expected
        raise SiteCasesError(f"phase {phase.slug!r} no longer validates: {exc}") from None
    try:
        return read_test_set(folder, spec)
    except TestSetError as exc:
        raise SiteCasesError(str(exc)) from None


def _latest_sites_version(session: Session, phase: Phase) -> TestSet | None:
    """The phase's newest test set version, if its cases are held at sites (it holds every site's newest part)."""
    latest = session.scalar(select(TestSet).where(TestSet.phase_id == phase.id)
                            .order_by(TestSet.version.desc()).limit(1))
    return latest if latest is not None and latest.storage_prefix == SITES_STORAGE_PREFIX else None


def _parts(session: Session, test_set: TestSet) -> list[TestSetPart]:
    return list(session.scalars(select(TestSetPart).where(TestSetPart.test_set_id == test_set.id)))


def _refuse_collisions(content: TestSetContent, others: list[Case], sites_by_id: dict[int, Site],
                       where: str) -> None:
    held = {c.case_key: sites_by_id[c.site_id].name for c in others if c.site_id is not None}
    taken = sorted(c.case_id for c in content.cases if c.case_id in held)
    if taken:
        shown = ", ".join(f"{case} (at {held[case]})" for case in taken[:10])
        more = f" and {len(taken) - 10} more" if len(taken) > 10 else ""
        raise SiteCasesError(f"{len(taken)} case id(s) of {where} are already held by another site: {shown}{more}. "
                             "Each case lives at exactly one site: rename these cases in cases.csv and their "
                             "folders, or leave them out.")


def _check_columns(content: TestSetContent, phase: Phase, folder: Path) -> None:
    """The cases.csv columns the phase's analysis and split name must be there (the site column always is)."""
    columns = set(content.metadata_columns) | {SITE_COLUMN}
    analysis = phase.analysis or {}
    named = [*(analysis.get("breakdown_by") or []), *([analysis["cluster_by"]] if analysis.get("cluster_by") else [])]
    if phase.split_column:
        named.append(phase.split_column)
    missing = sorted(set(named) - columns)
    if missing:
        raise SiteCasesError(f"{folder / 'cases.csv'}: the phase's analysis or split needs column(s) "
                             f"{', '.join(missing)} (columns: {', '.join(content.metadata_columns) or 'none'})")
    if phase.split_column and phase.split_column != SITE_COLUMN:
        wrong = sorted({c.meta.get(phase.split_column, "") for c in content.cases} - {"public", "private"})
        if wrong:
            raise SiteCasesError(f"{folder / 'cases.csv'}: column {phase.split_column!r} must hold 'public' or "
                                 f"'private', not {wrong}")


def _write_to_site(site_store: ArtifactStore, prefix: str, content: TestSetContent) -> None:
    """Every file of the folder, as a central test set stores them, and cases.json (each case's inputs)."""
    for relative in content.files:
        site_store.put_file(keys.test_set_file(prefix, relative), content.path_of(relative))
    cases = [{"case_id": c.case_id, "inputs": c.inputs} for c in content.cases]
    site_store.put_bytes(keys.test_set_file(prefix, CASES_JSON), json.dumps(cases, indent=1).encode())


def _message(site: str, where: str, test_set: TestSet, own: int, site_count: int, kept_hint: str | None) -> str:
    held = (f"test set v{test_set.version} of {where} holds {test_set.case_count} cases at {site_count} "
            f"site{'s' if site_count != 1 else ''}")
    loaded = f"Loaded {own} cases at site {site} into its own storage; {held}."
    if kept_hint is None:
        return f"{loaded} It is now the phase's current test set: new submissions run on it."
    return f"{loaded} It is kept beside the current one: {kept_hint}."
