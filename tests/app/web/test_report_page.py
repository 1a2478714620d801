"""The decision report's page (docs/report.md): its numbers are the stored analysis's, its caveats follow the
numbers, and who reads which rows (organisers every entry; a participant, once it is published, their own)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.config import Settings
from app.db_migrations import upgrade
from app.models import EvaluationRun, Phase, PhaseAnalysis, Submission
from app.models._types import utcnow
from app.queries.challenge_spec import phase_spec_of
from app.queries.decision_report import NOT_PUBLISHED, RESULTS_HIDDEN
from app.resources import Resources
from tests.app.test_authorization_matrix import sign_in
from tests.conftest import podium_environment
from tests.fixtures.analysed import PHASE, SLUG, AnalysedPhase, analysed_multisite

URL = f"/challenges/{SLUG}/{PHASE}/report"


@dataclass
class World:
    app: Flask
    resources: Resources
    analysed: AnalysedPhase


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One analysed phase for the module (about 10 s); a test that changes it puts it back."""
    settings = Settings.from_env(podium_environment(tmp_path_factory.mktemp("report"), PRICE_CPU_HOUR="36",
                                                    PRICE_CURRENCY="EUR"))
    upgrade(settings.database_url)
    resources = Resources(settings)
    yield World(create_app(settings), resources, analysed_multisite(resources))
    resources.close()


def _page(app: Flask, token: str | None, url: str = URL) -> tuple[int, str]:
    client = app.test_client()
    if token:
        sign_in(client, token)
    response = client.get(url)
    return response.status_code, response.get_data(as_text=True)


def _stored(resources: Resources, phase_id: int) -> tuple[dict[str, Any], dict[str, str]]:
    with resources.session() as session:
        found = session.query(PhaseAnalysis).filter_by(phase_id=phase_id).order_by(PhaseAnalysis.id.desc()).first()
        assert found is not None
        return dict(found.document), dict(found.figures)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _row(page: str, table: str, entry: str, **attrs: str) -> str:
    """The row of `entry` in the table with class `table` (and the given data- attributes on the table/row)."""
    body = page.split(f'<table class="{table}"' + "".join(f' data-{k}="{v}"' for k, v in attrs.items()))[1]
    body = body.split("</table>")[0]
    row = re.search(rf'data-entry="{re.escape(entry)}">(.*?)</tr>', body, re.S)
    assert row is not None, (table, entry)
    return row.group(1)


def _cell(row: str, metric: str) -> str:
    cell = re.search(rf'data-metric="{metric}">(.*?)</td>', row, re.S)
    assert cell is not None
    return _text(cell.group(1))


def _est(e: dict[str, Any], digits: int = 3) -> str:
    return f"{e['value']:.{digits}f} [{e['ci_low']:.{digits}f}, {e['ci_high']:.{digits}f}]"


def _caveats(page: str) -> list[str]:
    if 'id="caveats"' not in page:
        return []
    return [_text(c) for c in re.findall(r"<li>(.*?)</li>", page.split('id="caveats"')[1].split("</ul>")[0], re.S)]


def test_the_organisers_report_shows_the_stored_numbers(world: World) -> None:
    app, resources, analysed = world.app, world.resources, world.analysed
    status, page = _page(app, analysed.tokens["organiser"])
    assert status == 200, page[:500]
    document, figures = _stored(resources, analysed.phase_id)
    assert f'id="fact-cases">{document["cases"]}<' in page and 'id="fact-test-set">version 1 (342 cases)' in page
    # What was compared: cases and prevalence per site, from the breakdown.
    for group in document["breakdowns"]["site"]["vendor-a"]:
        row = re.search(rf'<tr data-site="{group["group"]}">(.*?)</tr>', page.split('id="sites"')[1], re.S)
        assert row is not None
        assert _text(row.group(1)) == (f'{group["group"]} {group["n_cases"]} {group["n_positives"]} '
                                       f'{100 * group["n_positives"] / group["n_cases"]:.1f}%')
    # Every metric of every entry, with its CI.
    assert set(document["rankings"]) >= {"auroc", "average_precision"}
    for metric, ranking in document["rankings"].items():
        for entry in ranking["entries"]:
            assert _cell(_row(page, "metrics", entry["entry"]), metric) == _est(entry)
    # The ranking "#" follows (the ranking across metrics when the phase has one), with its uncertainty.
    headline = document.get("combined_ranking") or document["rankings"]["auroc"]
    scores = {e["entry"]: e["score"] for e in headline["entries"]}
    for u in headline["uncertainty"]["entries"]:
        cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", _row(page, "ranking", u["entry"]), re.S)]
        assert cells[0] == str(u["reported_rank"]) and cells[1] == u["entry"]
        assert cells[-5] == f'{u["rank_low"]}–{u["rank_high"]}' and cells[-3] == f'{u["p_first"]:.2f}'
        assert cells[-2] == _est({"value": u["difference_to_leader"], "ci_low": u["difference_ci_low"],
                                  "ci_high": u["difference_ci_high"]})
        assert cells[-1] == ("=" if u["not_different_from_leader"] else "")
        if document.get("combined_ranking"):
            assert cells[2] == f'{scores[u["entry"]]:.2f}'
    tau = headline["uncertainty"]
    assert f'{tau["kendall_tau_mean"]:.2f} [{tau["kendall_tau_ci_low"]:.2f}, {tau["kendall_tau_ci_high"]:.2f}]' in \
        _text(page.split('id="kendall"')[1].split("</p>")[0])
    # Per-site operating points at the organiser's target, and the readers.
    site_b = next(s for s in document["operating_points"]["Team B"]["sites"] if s["site"] == "site-b")
    table = page.split('data-entry="Team B"><thead>')[1]
    row = table.split('data-site="site-b" data-kind="own">')[1].split("</tr>")[0]
    assert _est(site_b["own"]["sensitivity"]) in _text(row) and _est(site_b["own"]["threshold"]) in _text(row)
    assert "recall rate = 0.35" in page
    comparison = document["readers"]["vendor-c"]["comparisons"][1]
    readers = page.split('<table class="readers" data-entry="vendor-c">')[1].split("</table>")[0]
    row = readers.split(f'data-reader="{comparison["reader"]}"')[1].split("</tr>")[0]
    assert _est(comparison["specificity_difference"]) in _text(row)
    # Readers as baseline rows, when the analysis has them (reader -> metric -> estimate).
    assert document.get("reader_rows"), "the multisite example has readers"
    rows = page.split('id="reader-rows"')[1].split("</table>")[0]
    for reader, metrics in document["reader_rows"].items():
        cells = rows.split(f'data-reader="{reader}">')[1].split("</tr>")[0]
        for metric, estimate in metrics.items():
            if estimate.get("value") is not None and estimate.get("ci_low") is not None:
                assert _cell(cells, metric) == _est(estimate)
    # Time and cost per case, the leaderboard's (the run's / its 342 cases; cost: 30 CPU s at 36 EUR per CPU-hour);
    # unknown figures are said to be.
    assert _text(_row(page, "time", "vendor-a")) == f"vendor-a 34.2 30.0 200 MiB 0.100 {30 / 3600 * 36 / 342:.3g} EUR"
    assert _text(_row(page, "time", "Team B")) == "Team B 68.4 not recorded not recorded 0.200 not recorded"
    assert _text(_row(page, "time", "vendor-c")) == "vendor-c" + " not recorded" * 5
    # Figures inlined as data: URIs (no second request), one per stored figure.
    assert page.count('src="data:image/svg+xml;base64,') == len(figures) >= 5
    # Caveats from the numbers: few positives at site-a (19) and site-b (49), not site-c (59); prevalence per site.
    caveats = _caveats(page)
    small = [c for c in caveats if c.startswith("Small sample")]
    assert [c.split(":")[1].split()[0] for c in small] == ["site-a", "site-b"]
    widths = [max(g["ci_high"] - g["ci_low"] for g in document["breakdowns"]["site"][e] if g["group"] == "site-a")
              for e in document["entries"]]
    assert f"up to {max(widths):.2f} wide" in small[0]
    assert any(c.startswith("Prevalence differs per site: from 15% (site-a) to 56% (site-c)") for c in caveats)
    assert any(c.startswith("Unpublished report") for c in caveats)
    assert not any(c.startswith(("Provisional", "Split test set", "Missing cases", "Unpublished results"))
                   for c in caveats)


def test_participants_read_their_own_entry_once_published(world: World) -> None:
    app, resources, analysed = world.app, world.resources, world.analysed
    tokens = analysed.tokens
    status, page = _page(app, tokens["vendor-a"])
    assert status == 403 and _text(NOT_PUBLISHED).split(";")[0].replace("'", "&#39;") in page
    assert app.test_client().get(URL).status_code == 302  # anonymous: to the sign-in page
    assert _page(app, tokens["vendor-a"], URL + ".pdf")[0] == 403
    analysis = f"/challenges/{SLUG}/{PHASE}/analysis"
    assert 'id="report-link"' not in _page(app, tokens["vendor-a"], analysis)[1]
    assert 'id="report-link"' in _page(app, tokens["organiser"], analysis)[1]

    # The organiser publishes the report on the manage page; a participant may not.
    participant = app.test_client()
    csrf = sign_in(participant, tokens["vendor-a"])
    assert participant.post(f"/challenges/{SLUG}/{PHASE}/report-published",
                            data={"csrf": csrf, "published": "1"}).status_code == 403
    organiser = app.test_client()
    csrf = sign_in(organiser, tokens["organiser"])
    assert organiser.post(f"/challenges/{SLUG}/{PHASE}/report-published",
                          data={"csrf": csrf, "published": "maybe"}).status_code == 400
    done = organiser.post(f"/challenges/{SLUG}/{PHASE}/report-published", data={"csrf": csrf, "published": "1"})
    assert done.status_code == 302
    with resources.session() as session:
        phase = session.get(Phase, analysed.phase_id)
        assert phase is not None and phase.report_published is True
        assert phase_spec_of(phase)["report_published"] is True  # challenge.yaml's round trip
    assert 'id="report-toggle-test"' in organiser.get(f"/challenges/{SLUG}/manage").get_data(as_text=True)

    document, _ = _stored(resources, analysed.phase_id)
    others = {"Team B", "vendor-c", "team-b"}
    status, page = _page(app, tokens["vendor-a"])
    assert status == 200 and 'id="report-link"' in _page(app, tokens["vendor-a"], analysis)[1]
    metrics = page.split('<table class="metrics"')[1].split("</table>")[0]
    mine = re.findall(r'<tr class="mine" data-entry="([^"]+)"', metrics)
    assert mine == ["vendor-a"]
    assert not any(name in page for name in others)
    for entry in document["rankings"]["auroc"]["entries"]:
        if entry["entry"] != "vendor-a":
            assert _est(entry) not in page
    assert "data:image" not in page and "Your entry only" in page
    assert "it would give the leader's score away" in page
    assert not any("Team B" in c or "vendor-c" in c for c in _caveats(page))
    # A team-mate reads the team's entry; someone without an entry reads no rows.
    status, page = _page(app, tokens["team-b-mate"])
    assert status == 200 and 'data-entry="Team B"' in page and "vendor-a" not in page and "vendor-c" not in page
    # Nor the difference to the leader: with the team's own value it would give the leader's score away.
    headline = document.get("combined_ranking") or document["rankings"]["auroc"]
    team = next(u for u in headline["uncertainty"]["entries"] if u["entry"] == "Team B")
    assert team["difference_to_leader"] != 0
    difference = _est({"value": team["difference_to_leader"], "ci_low": team["difference_ci_low"],
                       "ci_high": team["difference_ci_high"]})
    assert difference not in _text(page) and "it would give the leader's score away" in page
    status, page = _page(app, tokens["stranger"])
    assert status == 200 and "You have no entry in this analysis" in page and "data-entry=" not in page
    # Results hidden again: the report goes with them.
    with resources.session() as session:
        phase = session.get(Phase, analysed.phase_id)
        assert phase is not None
        phase.results_published = False
    status, page = _page(app, tokens["vendor-a"])
    assert status == 403 and "published this phase&#39;s results" in page
    assert RESULTS_HIDDEN.startswith("The organisers have not published this phase's results")
    with resources.session() as session:  # as it was, for the next test
        phase = session.get(Phase, analysed.phase_id)
        assert phase is not None
        phase.results_published, phase.report_published = True, False


def test_caveats_follow_the_leaderboard(world: World) -> None:
    """A submission hidden since the analysis: ranks are provisional; unscored cases are counted; results hidden.
    (Changes the module's phase: only tests that do not need it as it was come after it.)"""
    app, resources, analysed = world.app, world.resources, world.analysed
    with resources.session() as session:
        phase = session.get(Phase, analysed.phase_id)
        assert phase is not None
        submissions = session.query(Submission).filter_by(phase_id=phase.id).order_by(Submission.id).all()
        submissions[-1].hidden_at = utcnow()
        run = session.query(EvaluationRun).filter_by(submission_id=submissions[0].id).one()
        run.cases_invalid = 3  # vendor-a: three cases without a valid output
        phase.results_published = False
    _, page = _page(app, analysed.tokens["organiser"])
    caveats = _caveats(page)
    assert any(c.startswith("Provisional ranks") for c in caveats)
    assert any(c.startswith("Unpublished results") for c in caveats)
    assert "Missing cases (vendor-a: 3) without a valid output were not scored." in caveats


def test_printing_is_bounded_and_says_why_it_failed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Chromium on the server: the PDF answers 503 saying so (the page still prints from a browser); a print
    that runs past its time is stopped with a message."""
    import app.report_pdf as report_pdf

    monkeypatch.setattr(report_pdf, "CHROMIUM", "/nonexistent/chromium")
    status, page = _page(world.app, world.analysed.tokens["organiser"], URL + ".pdf")
    assert status == 503 and "no Chromium at /nonexistent/chromium" in page
    monkeypatch.undo()
    with pytest.raises(report_pdf.RenderUnavailable, match="took longer than"):
        report_pdf.render_pdf("<p>x</p>", timeout_s=0.05)


def test_a_split_test_set_is_reported_as_its_public_part(world: World) -> None:
    """While a split phase runs, the analysis and so the report cover the public part only, and say so; under the
    "exclude" policy, cases an entry has no output for leave everyone's analysis, and the report counts them.
    (Changes the module's phase: the last test.)"""
    from datetime import timedelta

    from app.models import CaseOutcome, Score
    from app.pipeline.analysis import analyse_phase

    app, resources, analysed = world.app, world.resources, world.analysed
    with resources.session() as session:
        phase = session.get(Phase, analysed.phase_id)
        assert phase is not None and phase.current_test_set is not None
        for i, case in enumerate(phase.current_test_set.cases):
            case.meta = {**dict(case.meta), "split": "public" if i % 3 else "private"}
        phase.split_column, phase.closes_at = "split", utcnow() + timedelta(days=1)
        phase.missing_cases = "exclude"
        public_cases = [case.id for i, case in enumerate(phase.current_test_set.cases) if i % 3]
        for submission in session.query(Submission).filter_by(phase_id=phase.id).order_by(Submission.id):
            submission.hidden_at = None
            run = session.query(EvaluationRun).filter_by(submission_id=submission.id).one()
            run.cases_invalid = 0
            session.add(Score(run_id=run.id, metric="auroc", subset="public", value=0.5))
        # The last entrant has no output for five public cases.
        session.query(CaseOutcome).filter(CaseOutcome.run_id == run.id,
                                          CaseOutcome.case_id.in_(public_cases[:5])).delete()
        run.cases_invalid = 5
        public = len(public_cases)
    assert analyse_phase(resources, analysed.phase_id) is not None
    _, page = _page(app, analysed.tokens["organiser"])
    assert "the public part (while the phase runs)" in page
    caveats = _caveats(page)
    assert f"Split test set: the public part only ({public} of 342 cases)" in " ".join(caveats)
    assert f'id="fact-cases">{public - 5}<' in page
    assert any(c.startswith(f"Cases left out: the analysis uses {public - 5} of the {public} cases") for c in caveats)
    assert any(c.startswith("Missing cases (vendor-c: 5)") and "left out of every entry" in c for c in caveats)
