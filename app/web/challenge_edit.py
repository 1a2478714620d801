"""Organisers' pages to create and edit a challenge and its phases, and to export it as a bundle (rules:
app/usecases/challenge_edit.py and app/usecases/challenge_export.py).

Every route needs a session (anonymous visitors go to the sign-in page). Editing, adding a phase and exporting are
for the challenge's organisers and the site's admins (anyone else: 403, the challenge is public); creating a
challenge is for the site's admins. The forms are plain HTML (their rows of metrics vary): every field has a stable
`name` and `id`; a refused form is shown again, with what was entered and each problem next to its field (problems
without a field at the top), with status 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Forbidden
from app.extensions import db_session, podium
from app.models import Challenge, Phase, Submission, User
from app.queries.challenge_spec import challenge_spec_of, phase_spec_of
from app.queries.phases import get_phase
from app.usecases.challenge_edit import InvalidSpec, add_phase, create_challenge, edit_challenge, edit_phase
from app.usecases.challenge_export import export_challenge
from app.web import _logged_in_user, sentence, web
from app.web.organisers import organised_challenge
from app.web.sessions import signed_in
from evaluation.registry import metric_registry

LIMITS = ("time_limit_seconds", "memory_mb", "cpus", "gpus", "pids", "tmp_mb", "output_mb", "log_kb", "max_upload_mb",
          "submissions_per_day", "submissions_total", "cases_in_parallel", "shards")
INTERFACES = ("inputs", "outputs", "ground_truth")
METRIC_PARTS = ("name", "prediction", "target", "options")
SPARE_METRIC_ROWS = 1  # empty rows under the phase's metrics, to add one
# challenges/breast-cancer-wisconsin/challenge.yaml's interfaces: a working start for a new phase.
EXAMPLE_INPUTS = """- slug: nuclei-features
  kind: json
  relative_path: nuclei-features.json
  json_type: object
  description: The 30 features of the WDBC data set, by their scikit-learn names.
"""
EXAMPLE_OUTPUTS = """- slug: malignancy-likelihood
  kind: json
  relative_path: malignancy-likelihood.json
  json_type: number
  minimum: 0
  maximum: 1
  description: Likelihood that the mass is malignant, between 0 and 1.
"""
EXAMPLE_GROUND_TRUTH = """- slug: malignant
  kind: json
  relative_path: malignant.json
  json_type: integer
  minimum: 0
  maximum: 1
"""


def _admin(db: Session) -> User:
    user = _logged_in_user(db)
    assert user is not None  # @signed_in
    if not user.is_admin:
        raise Forbidden("Only the site's admins create challenges. Ask one to create it, or to make you an organiser "
                        "of an existing one.")
    return user




# ---- the form's fields <-> challenge.yaml's keys --------------------------------------------------------------


def _utc_input(stamp: str | None) -> str:
    """An ISO time as a datetime-local input's value, in UTC (YYYY-MM-DDTHH:MM)."""
    if not stamp:
        return ""
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _utc_value(text: str) -> str:
    """A datetime-local input's value (UTC) as an ISO time with its zone; what does not parse goes to the check."""
    text = text.strip()
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).isoformat()


def _yaml_text(interfaces: list[dict[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump(interfaces, sort_keys=False, allow_unicode=True, width=100) if interfaces else ""


def _metric_rows(form: Mapping[str, str]) -> tuple[list[dict[str, str]], list[int]]:
    """The filled metric rows, and each one's row number on the form."""
    rows, numbers = [], []
    count = min(int(form.get("metric_rows", "0") or 0) if (form.get("metric_rows") or "").isdigit() else 0, 100)
    for number in range(count):
        row = {part: form.get(f"metric-{number}-{part}", "") for part in METRIC_PARTS}
        if row["name"].strip():
            rows.append(row)
            numbers.append(number)
    return rows, numbers


def _phase_values(spec: dict[str, Any]) -> dict[str, str]:
    """The phase edit form's values from the phase's spec."""
    values = {"title": spec["title"], "description": spec.get("description", ""),
              "opens_at": _utc_input(spec.get("opens_at")), "closes_at": _utc_input(spec.get("closes_at")),
              "ranking_metric": spec["ranking"]["metric"], "ranking_order": spec["ranking"].get("order", "descending"),
              "ranking_across": _ranked_metrics_text(spec["ranking"].get("metrics")),
              "ranking_combine": spec["ranking"].get("combine") or "mean",
              "leaderboard_columns": ", ".join(spec.get("leaderboard_columns") or []),
              "missing_cases": spec.get("missing_cases", "fail"),
              "log_visibility": spec.get("log_visibility", "failure-message"),
              "split_column": spec.get("split_column") or "",
              "final_submissions": str(spec.get("final_submissions", 2)),
              "final_rule": spec.get("final_rule", "best-public"),
              "ranking_scheme": spec.get("analysis", {}).get("ranking_scheme", "aggregate-then-rank"),
              "cluster_by": spec.get("analysis", {}).get("cluster_by") or "",
              "case_results_visible": "1" if spec.get("case_results_visible") else ""}
    values.update({name: "" if spec["limits"].get(name) is None else str(spec["limits"][name]) for name in LIMITS})
    values.update({group: _yaml_text(spec.get(group) or []) for group in INTERFACES})
    for number, metric in enumerate(spec.get("metrics") or []):
        values[f"metric-{number}-name"] = metric["name"]
        values[f"metric-{number}-prediction"] = metric["prediction"]
        values[f"metric-{number}-target"] = metric["target"]
        values[f"metric-{number}-options"] = _json_text(metric.get("options"))
    values["metric_rows"] = str(len(spec.get("metrics") or []) + SPARE_METRIC_ROWS)
    return values


def _json_text(options: dict[str, Any] | None) -> str:
    import json

    return json.dumps(options) if options else ""


def _form_values(form: Mapping[str, str]) -> dict[str, str]:
    values = {name: form.get(name, "") for name in form}
    rows = int(values.get("metric_rows", "0")) if values.get("metric_rows", "").isdigit() else 0
    values["metric_rows"] = str(min(rows, 100))
    return values


def _phase_changes(form: Mapping[str, str], *, interfaces: bool) -> tuple[dict[str, Any], list[int]]:
    rows, numbers = _metric_rows(form)
    changes: dict[str, Any] = {
        "title": form.get("title", ""), "description": form.get("description", ""),
        "opens_at": _utc_value(form.get("opens_at", "")), "closes_at": _utc_value(form.get("closes_at", "")),
        "limits": {name: form.get(name, "") for name in LIMITS},
        "metrics": rows,
        "ranking": {"metric": form.get("ranking_metric", ""), "order": form.get("ranking_order", ""),
                    **_ranking_across(form)},
        "leaderboard_columns": form.get("leaderboard_columns", ""),
        "missing_cases": form.get("missing_cases", ""), "log_visibility": form.get("log_visibility", ""),
        "split_column": form.get("split_column", ""), "final_submissions": form.get("final_submissions", ""),
        "final_rule": form.get("final_rule", ""),
        "analysis": {"ranking_scheme": form.get("ranking_scheme", ""),
                     "breakdown_by": [c for c in request.form.getlist("breakdown_by") if c],
                     "cluster_by": form.get("cluster_by") or None},
        "case_results_visible": form.get("case_results_visible") == "1",
    }
    if interfaces:
        changes.update({group: form.get(group, "") for group in INTERFACES})
    return changes, numbers


def _new_phase_changes(form: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
    rows, numbers = _metric_rows(form)
    return {"slug": form.get("phase_slug", ""), "title": form.get("phase_title", ""),
            "description": form.get("phase_description", ""),
            **{group: form.get(group, "") for group in INTERFACES}, "metrics": rows,
            "ranking": {"metric": form.get("ranking_metric", ""), "order": form.get("ranking_order", "")}}, numbers


def _ranked_metrics_text(metrics: list[dict[str, Any]] | None) -> str:
    """ranking.metrics as the form writes them: "auroc:2, brier_score:ascending" (weight and order when given)."""
    parts = []
    for ranked in metrics or []:
        text = str(ranked["metric"])
        if float(ranked.get("weight", 1.0)) != 1.0:
            text += f":{float(ranked['weight']):g}"
        if ranked.get("order"):
            text += f":{ranked['order']}"
        parts.append(text)
    return ", ".join(parts)


def _ranking_across(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's "Rank across metrics" field: names separated by commas, each with an optional ":weight" and
    ":ascending"/":descending" (its own direction otherwise). Empty: the phase ranks by one metric."""
    text = form.get("ranking_across", "").strip()
    if not text:
        return {"metrics": None, "combine": None}
    metrics = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, *options = [piece.strip() for piece in item.split(":")]
        ranked: dict[str, Any] = {"metric": name}
        for option in options:
            if option in ("ascending", "descending"):
                ranked["order"] = option
            else:
                ranked["weight"] = option  # checked as a number by challenge.yaml's model
        metrics.append(ranked)
    return {"metrics": metrics, "combine": form.get("ranking_combine") or "mean"}


FIELD_OF_KEY = {"ranking.metric": "ranking_metric", "ranking.order": "ranking_order",
                "ranking.metrics": "ranking_across", "ranking.combine": "ranking_combine", "ranking": "ranking_across",
                "analysis.breakdown_by": "breakdown_by", "analysis.ranking_scheme": "ranking_scheme",
                "analysis.cluster_by": "cluster_by"}


def _field_errors(problems: Mapping[str, str], metric_numbers: list[int], fields: set[str]) -> dict[str, str]:
    """The use case's problems (by key path) by form field; those without a field under "" (the top)."""
    errors: dict[str, str] = {}

    def put(field: str, message: str) -> None:
        errors[field] = f"{errors[field]} {message}" if field in errors else message

    for key, message in problems.items():
        message = sentence(message)
        parts = key.split(".")
        if key in FIELD_OF_KEY:
            put(FIELD_OF_KEY[key], message)
        elif key.startswith("ranking.metrics."):
            put("ranking_across", f"{key.removeprefix('ranking.')}: {message}")
        elif parts[0] == "limits" and len(parts) == 2 and parts[1] in fields:
            put(parts[1], message)
        elif parts[0] == "metrics" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(metric_numbers):
            put(f"metric-{metric_numbers[int(parts[1])]}-{parts[2]}", message)
        elif parts[0] in INTERFACES and parts[0] in fields:
            where = (f"Item {int(parts[1]) + 1}, {'.'.join(parts[2:]) or 'the item'}: "
                     if len(parts) >= 2 and parts[1].isdigit() else "")
            put(parts[0], where + (message[:1].lower() + message[1:] if where else message))
        elif key in fields:
            put(key, message)
        else:
            put("", f"{key}: {message}" if key else message)
    return errors


def _new_phase_problems(problems: Mapping[str, str]) -> dict[str, str]:
    """The new-phase page's keys: the phase's slug, title and description have their own names there."""
    renamed = {}
    for key, message in problems.items():
        if key.startswith("phase."):
            key = key[len("phase."):]
            key = NEW_PHASE_RENAMES.get(key, key)
        elif key == "phase":
            key = ""
        renamed[key] = message
    return renamed


def _phase_choices(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metric_names": sorted(metric_registry()),
            "outputs": [o["slug"] for o in spec.get("outputs") or []],
            "truths": [g["slug"] for g in spec.get("ground_truth") or []]}


# ---- pages ----------------------------------------------------------------------------------------------------


@web.get("/challenges/<slug>/export.zip")
@signed_in
def export_bundle(slug: str) -> ResponseReturnValue:
    """The challenge as a bundle (challenge.yaml, test sets, evaluators, readers, public files)."""
    work = podium().resources.settings.data_dir / "tmp" / "exports"
    work.mkdir(parents=True, exist_ok=True)
    with db_session() as db:
        challenge, user = organised_challenge(db, slug, "edit or export it")
        bundle = export_challenge(db, podium().resources.store, challenge, user, work_dir=work)
    return send_file(bundle, mimetype="application/zip", as_attachment=True, download_name=f"{slug}.zip",
                     max_age=0)


CHALLENGE_FIELDS = ("title", "description", "terms", "join_policy", "max_team_size")


@web.route("/challenges/<slug>/edit", methods=["GET", "POST"])
@signed_in
def edit_challenge_page(slug: str) -> ResponseReturnValue:
    with db_session() as db:
        challenge, user = organised_challenge(db, slug, "edit or export it")
        if request.method == "GET":
            spec = challenge_spec_of(challenge)
            values = {name: "" if spec.get(name) is None else str(spec.get(name)) for name in CHALLENGE_FIELDS}
            return render_template("edit_challenge.html", challenge=challenge, values=values, errors={})
        values = {name: request.form.get(name, "") for name in CHALLENGE_FIELDS}
        try:
            edit_challenge(db, challenge, user, values)
        except InvalidSpec as exc:
            db.rollback()
            errors = _field_errors(exc.problems, [], set(CHALLENGE_FIELDS))
            return render_template("edit_challenge.html", challenge=challenge, values=values, errors=errors), 400
        title = challenge.title
    flash(f"{title}: saved.")
    return redirect(url_for("web.manage", slug=slug))


def _submission_count(db: Session, phase: Phase) -> int:
    return db.scalar(select(func.count()).select_from(Submission).where(Submission.phase_id == phase.id)) or 0


def _phase_page(db: Session, phase: Phase, values: dict[str, str], errors: dict[str, str],
                status: int = 200) -> ResponseReturnValue:
    spec = phase_spec_of(phase)
    submissions = _submission_count(db, phase)
    columns = list(phase.current_test_set.metadata_columns or []) if phase.current_test_set else []
    chosen = (request.form.getlist("breakdown_by") if request.method == "POST"
              else spec.get("analysis", {}).get("breakdown_by", []))
    columns += [c for c in chosen if c not in columns]
    if values.get("cluster_by") and values["cluster_by"] not in columns:  # kept, so the select shows it
        columns.append(values["cluster_by"])
    return render_template("edit_phase.html", challenge=phase.challenge, phase=phase, values=values, errors=errors,
                           submissions=submissions, columns=columns, chosen_columns=chosen,
                           metric_count=int(values.get("metric_rows") or 0), aggregates=[
                               a["name"] for a in (phase.evaluator or {}).get("aggregates", [])],
                           **_phase_choices(spec)), status


PHASE_FIELDS = {"title", "description", "opens_at", "closes_at", *LIMITS, "leaderboard_columns", "missing_cases",
                "log_visibility", "split_column", "final_submissions", "final_rule", "case_results_visible",
                *INTERFACES, "metrics", "slug", "ranking_metric", "ranking_order", "ranking_across", "ranking_combine",
                "breakdown_by", "ranking_scheme", "cluster_by"}


@web.route("/challenges/<slug>/<phase_slug>/edit", methods=["GET", "POST"])
@signed_in
def edit_phase_page(slug: str, phase_slug: str) -> ResponseReturnValue:
    with db_session() as db:
        _, user = organised_challenge(db, slug, "edit or export it")
        phase = get_phase(db, slug, phase_slug)
        if request.method == "GET":
            return _phase_page(db, phase, _phase_values(phase_spec_of(phase)), {})
        action = request.form.get("action", "save")
        numbers: list[int] = []
        if action in ("open-now", "close-now"):
            values = _phase_values(phase_spec_of(phase))
            now = datetime.now(UTC).replace(microsecond=0).isoformat()
            changes: dict[str, Any] = {"opens_at" if action == "open-now" else "closes_at": now}
        else:
            values = _form_values(request.form)
            changes, numbers = _phase_changes(request.form, interfaces=_submission_count(db, phase) == 0)
        try:
            edit_phase(db, phase, user, changes)
        except InvalidSpec as exc:
            db.rollback()
            return _phase_page(db, phase, values, _field_errors(exc.problems, numbers, PHASE_FIELDS), 400)
        title, phase_id = phase.title, phase.id
    # Closing shows the private part, and the settings may have changed the statistics: the analysis follows now
    # (the workers' reconciler would queue it within seconds too; it skips a phase whose analysis is current).
    podium().queue_analysis(phase_id)
    flash({"open-now": f"{title} is open now.", "close-now": f"{title} is closed now."}.get(action,
                                                                                          f"{title}: saved."))
    return redirect(url_for("web.edit_phase_page", slug=slug, phase_slug=phase_slug))


NEW_PHASE_FIELDS = {"phase_slug", "phase_title", "phase_description", *INTERFACES, "metrics", "ranking_metric",
                    "ranking_order"}
NEW_PHASE_RENAMES = {"slug": "phase_slug", "title": "phase_title", "description": "phase_description"}


def _new_values() -> dict[str, str]:
    return {"slug": "", "title": "", "description": "", "phase_slug": "test", "phase_title": "Hidden test set",
            "phase_description": "", "inputs": EXAMPLE_INPUTS, "outputs": EXAMPLE_OUTPUTS,
            "ground_truth": EXAMPLE_GROUND_TRUTH, "metric-0-name": "auroc",
            "metric-0-prediction": "malignancy-likelihood",
            "metric-0-target": "malignant", "metric-0-options": "", "metric_rows": "2", "ranking_metric": "auroc",
            "ranking_order": "descending"}


def _new_page(values: dict[str, str], errors: dict[str, str], challenge: Challenge | None = None,
              status: int = 200) -> ResponseReturnValue:
    return render_template("new_challenge.html", values=values, errors=errors, challenge=challenge,
                           metric_names=sorted(metric_registry()), metric_count=int(values.get("metric_rows") or 0),
                           outputs=None, truths=None), status


@web.route("/challenges/new", methods=["GET", "POST"])
@signed_in
def new_challenge() -> ResponseReturnValue:
    with db_session() as db:
        user = _admin(db)
        if request.method == "GET":
            return _new_page(_new_values(), {})
        values = _form_values(request.form)
        phase_changes, numbers = _new_phase_changes(request.form)
        try:
            created = create_challenge(db, user, {name: request.form.get(name, "")
                                                  for name in ("slug", "title", "description")}, phase_changes)
        except InvalidSpec as exc:
            db.rollback()
            errors = _field_errors(_new_phase_problems(exc.problems), numbers,
                                   NEW_PHASE_FIELDS | {"slug", "title", "description"})
            return _new_page(values, errors, status=400)
        slug = created.slug
    flash("The challenge is created, with its first phase. It has no test set yet: participants cannot submit "
          "until one is uploaded.")
    return redirect(url_for("web.manage", slug=slug))


@web.route("/challenges/<slug>/phases/new", methods=["GET", "POST"])
@signed_in
def new_phase(slug: str) -> ResponseReturnValue:
    with db_session() as db:
        challenge, user = organised_challenge(db, slug, "edit or export it")
        if request.method == "GET":
            values = {**_new_values(), "phase_slug": "", "phase_title": ""}
            return _new_page(values, {}, challenge)
        values = _form_values(request.form)
        phase_changes, numbers = _new_phase_changes(request.form)
        try:
            add_phase(db, challenge, user, phase_changes)
        except InvalidSpec as exc:
            db.rollback()
            errors = _field_errors(_new_phase_problems({f"phase.{k}" if k else "phase": m
                                                        for k, m in exc.problems.items()}), numbers, NEW_PHASE_FIELDS)
            return _new_page(values, errors, challenge, status=400)
    flash("The phase is added. It has no test set yet: participants cannot submit to it until one is uploaded.")
    return redirect(url_for("web.edit_phase_page", slug=slug, phase_slug=phase_changes["slug"].strip()))
