"""A member's measures are theirs like their check-ins: the export holds every response in its own version's
words with its scores, "delete all my check-ins", the account's deletion and the member's retention period
remove them for good, and the answers are encrypted at rest and move to a new key with the others."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy import text as sql

from supportnet import clock, crypto, memberships, privacy, scheduler
from supportnet.extensions import db
from supportnet.measures import instruments, scoring
from supportnet.models import (
    MeasureResponse,
    MeasureRhythm,
    MemberRole,
    Membership,
    Rhythm,
    RhythmSuggestion,
    SuggestionAnswer,
    User,
)
from tests.conftest import Persona, login, make_app, make_persona, post
from tests.pages import flashes, text
from tests.worlds.data_controls import World, build_world

# Answers a member gives; PHQ9 totals 11 ("moderate"), BAM has use 1, risk and protective as scored.
PHQ9 = {"1": 2, "2": 2, "3": 1, "4": 2, "5": 1, "6": 1, "7": 1, "8": 1, "9": 0, "difficulty": 1}
BAM = {"1": 2, "2": 1, "3": 2, "4": 1, "5": 0, "6": 0, "8": 1, "9": 3, "10": 2, "11": 1, "12": 2, "13": 0,
       "14": 4, "15": 1, "16": 3, "17": 3}
SUGGESTION_NOTE = "sentinel-suggestion-note: we look at these together"
MEASURE_TABLES = ("measure_response", "measure_rhythm", "rhythm_suggestion_answer")


@pytest.fixture
def world(app) -> World:
    return build_world(app)


def take(app, persona: Persona, code: str, answers: dict, taken_at: datetime, *, version: int | None = None,
         attendance_offered: int | None = None) -> int:
    """A response stored as a member's is: scored by its exact version, answers encrypted. A `version` the
    registry does not hold is stored as given (its scores copied from the current version)."""
    with app.app_context():
        user = persona.user()
        result = scoring.score(instruments.current(code), answers)
        row = MeasureResponse(
            user_id=user.id, code=code, version=version or instruments.current(code).version,
            answers=json.dumps(answers), scores=dict(result.subscales), taken_at=taken_at,
            local_date=taken_at.astimezone(ZoneInfo(user.timezone)).date(), attendance_offered=attendance_offered,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def choose_rhythm(app, persona: Persona, code: str = "PHQ-9", suggestion_id: int | None = None) -> None:
    with app.app_context():
        db.session.add(MeasureRhythm(user_id=persona.id, code=code, rhythm=Rhythm.WEEKLY, starts_on=date(2026, 12, 1),
                                     at=time(8, 30), suggestion_id=suggestion_id))
        db.session.commit()


def suggest(app, world: World, by: Persona, code: str = "BAM") -> int:
    with app.app_context():
        row = RhythmSuggestion(group_id=world.group_id, code=code, rhythm=Rhythm.MONTHLY, note=SUGGESTION_NOTE,
                               created_by_id=by.id)
        db.session.add(row)
        db.session.commit()
        return row.id


def answer(app, persona: Persona, suggestion_id: int, accepted: bool) -> None:
    with app.app_context():
        db.session.add(SuggestionAnswer(suggestion_id=suggestion_id, user_id=persona.id, accepted=accepted,
                                        answered_at=clock.now_utc()))
        db.session.commit()


def signed_in(app, persona: Persona):
    client = app.test_client()
    assert login(client, persona).status_code == 302
    return client


def export(client) -> zipfile.ZipFile:
    response = post(client, "/account/data/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def measure_rows(app, user_id: int) -> dict[str, int]:
    with app.app_context():
        return {
            table: db.session.execute(sql(f"SELECT count(*) FROM {table} WHERE user_id = :id"),  # noqa: S608
                                      {"id": user_id}).scalar()
            for table in MEASURE_TABLES
        }


# --- export ---


def test_the_export_holds_each_measure_in_its_own_words_with_version_scores_and_band(app, world):
    member, facilitator = world.persona("member"), world.persona("facilitator")
    now = clock.now_utc()
    phq9_id = take(app, member, "PHQ-9", PHQ9, now - timedelta(days=9))
    bam_id = take(app, member, "BAM", BAM, now - timedelta(days=2), attendance_offered=3)
    suggestion = suggest(app, world, facilitator)
    answer(app, member, suggestion, accepted=True)
    choose_rhythm(app, member, "BAM", suggestion_id=suggestion)
    take(app, world.peer, "PHQ-9", PHQ9, now)  # someone else's: never in this export

    archive = export(signed_in(app, member))
    data = json.loads(archive.read("data.json"))
    phq9, bam = data["measures"]
    phq9_v1 = instruments.get("PHQ-9", 1)
    assert {key: phq9[key] for key in ("id", "instrument", "version", "title", "scores", "band")} == {
        "id": phq9_id, "instrument": "PHQ-9", "version": 1, "title": phq9_v1.title, "scores": {"total": 11},
        "band": "moderate",
    }
    assert phq9["taken_at"] == (now - timedelta(days=9)).isoformat() and phq9["taken_at"].endswith("+00:00")
    assert phq9["local_date"] == "2026-11-17" and phq9["attendance_offered"] is None
    # Every item, in the instrument's order, decrypted and in the words of the version answered.
    assert [a["item"] for a in phq9["answers"]] == list(phq9_v1.labels)
    assert phq9["answers"][8] == {"item": "9", "question": phq9_v1.item("9").text, "value": 0, "answer": "Not at all"}
    assert phq9["answers"][9]["answer"] == "Somewhat difficult"
    assert (bam["id"], bam["version"], bam["band"], bam["attendance_offered"]) == (bam_id, 1, None, 3)
    assert set(bam["scores"]) == {"use", "risk", "protective"}
    assert next(a for a in bam["answers"] if a["item"] == "10")["answer"] == "4-8"
    assert next(a for a in bam["answers"] if a["item"] == "7A")["value"] is None  # skipped, as on the form
    assert data["measure_rhythms"] == [{"instrument": "BAM", "rhythm": "weekly", "starts_on": "2026-12-01",
                                        "at": "08:30", "suggestion_id": suggestion}]
    assert data["rhythm_suggestion_answers"] == [{"suggestion_id": suggestion, "instrument": "BAM",
                                                  "rhythm": "monthly", "accepted": True,
                                                  "answered_at": clock.now_utc().isoformat()}]
    # Who suggested it, and what they wrote, is about someone else.
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode()
    assert facilitator.display_name not in everything and SUGGESTION_NOTE not in everything

    assert "measures.csv" in archive.read("README.txt").decode()
    table = list(csv.DictReader(io.StringIO(archive.read("measures.csv").decode())))
    header = next(csv.reader(io.StringIO(archive.read("measures.csv").decode())))
    assert header[:4] == ["id", "instrument", "version", "title"]
    phq9_items = [column for column in header if column.startswith("PHQ-9 item ")]
    assert phq9_items == [f"PHQ-9 item {label}" for label in phq9_v1.labels]
    assert [(row["instrument"], row["version"]) for row in table] == [("PHQ-9", "1"), ("BAM", "1")]
    assert table[0]["total score"] == "11" and table[0]["band"] == "moderate" and table[0]["PHQ-9 item 1"] == "2"
    assert table[0]["BAM item 1"] == "" and table[1]["BAM item 10"] == "2" and table[1]["attendance_offered"] == "3"
    assert table[1]["protective score"] == str(bam["scores"]["protective"])

    # The check-in page's own JSON download carries the same.
    client = signed_in(app, member)
    own = json.loads(client.get("/me/checkins/export.json").get_data(as_text=True))
    assert own["measures"] == data["measures"] and own["measure_rhythms"] == data["measure_rhythms"]


def test_a_response_is_exported_with_the_version_it_names_never_another(app, world):
    member = world.persona("member")
    take(app, member, "PHQ-9", PHQ9, clock.now_utc() - timedelta(days=1))
    # A version this registry does not hold: the export keeps its numbers and borrows no other version's words.
    take(app, member, "PHQ-9", PHQ9, clock.now_utc(), version=7)
    data = json.loads(export(signed_in(app, member)).read("data.json"))
    first, other = data["measures"]
    assert (first["version"], first["title"]) == (1, instruments.get("PHQ-9", 1).title)
    assert first["answers"][0]["question"] == instruments.get("PHQ-9", 1).item("1").text
    assert (other["instrument"], other["version"], other["title"], other["band"]) == ("PHQ-9", 7, None, None)
    assert other["answers"][0] == {"item": "1", "question": None, "value": 2, "answer": None}
    assert other["scores"] == {"total": 11}


def test_an_export_without_measures_still_has_a_measures_file(app, world):
    archive = export(signed_in(app, world.persona("member")))
    assert archive.read("measures.csv").decode().startswith("id,instrument,version,title,taken_at,local_date")
    assert json.loads(archive.read("data.json"))["measures"] == []


# --- delete all my check-ins ---


def test_deleting_all_check_ins_takes_the_measure_results_too_and_says_so(app, world):
    member = world.persona("member")
    for days in (1, 8):
        take(app, member, "PHQ-9", PHQ9, clock.now_utc() - timedelta(days=days))
    choose_rhythm(app, member)
    peers = take(app, world.peer, "PHQ-9", PHQ9, clock.now_utc())
    client = signed_in(app, member)
    page = text(client.get("/me/checkins"))
    assert "your measure results" in page and "Your measure rhythms stay; stop them on the measures page" in page

    refused = post(client, "/me/checkins/delete-all", {"confirm": "yes"})
    assert refused.status_code == 303 and measure_rows(app, member.id)["measure_response"] == 2
    response = post(client, "/me/checkins/delete-all", {"confirm": "DELETE"}, follow_redirects=True)
    assert "All your check-ins are deleted (1), and your measure results (2)." in flashes(response)
    assert measure_rows(app, member.id) == {"measure_response": 0, "measure_rhythm": 1, "rhythm_suggestion_answer": 0}
    with app.app_context():
        assert db.session.get(MeasureResponse, peers) is not None


def _sqlite_bytes(db_path: Path) -> bytes:
    wal = Path(f"{db_path}-wal")
    return Path(db_path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _ciphertexts(app) -> list[bytes]:
    with app.app_context():
        return [row.encode() for row in db.session.execute(sql("SELECT answers FROM measure_response")).scalars()]


@pytest.mark.sqlite_only("greps SQLite's file and WAL")
def test_deleted_measure_answers_leave_no_ciphertext_in_the_file_or_its_wal(app, db_path, world):
    member = world.persona("member")
    take(app, member, "BAM", BAM, clock.now_utc())
    take(app, member, "PHQ-9", PHQ9, clock.now_utc())
    ciphertexts = _ciphertexts(app)
    assert all(c in _sqlite_bytes(db_path) for c in ciphertexts)  # the test can see them at all
    assert post(signed_in(app, member), "/me/checkins/delete-all", {"confirm": "DELETE"}).status_code == 302
    assert [c for c in ciphertexts if c in _sqlite_bytes(db_path)] == []


# --- the account ---


def test_deleting_the_account_leaves_no_measure_row_of_the_member(app, world):
    member, facilitator = world.persona("member"), world.persona("facilitator")
    take(app, member, "PHQ-9", PHQ9, clock.now_utc())
    suggestion = suggest(app, world, facilitator)
    answer(app, member, suggestion, accepted=True)
    choose_rhythm(app, member, "BAM", suggestion_id=suggestion)
    answer(app, world.peer, suggestion, accepted=False)
    assert measure_rows(app, member.id) == dict.fromkeys(MEASURE_TABLES, 1)
    assert post(signed_in(app, member), "/account/delete", {"confirm": "DELETE"}).status_code == 302
    assert measure_rows(app, member.id) == dict.fromkeys(MEASURE_TABLES, 0)
    assert measure_rows(app, world.peer.id)["rhythm_suggestion_answer"] == 1  # the peer's answer is theirs

    # The facilitator who suggested it leaves too (a co-facilitator stays): the suggestion stays the group's,
    # with nobody named, and members' answers to it stay.
    with app.app_context():
        memberships.set_role(db.session.get(Membership, world.peer_membership_id), MemberRole.FACILITATOR)
        db.session.commit()
    assert post(signed_in(app, facilitator), "/account/delete", {"confirm": "DELETE"}).status_code == 302
    with app.app_context():
        row = db.session.get(RhythmSuggestion, suggestion)
        assert row is not None and row.created_by_id is None
    assert measure_rows(app, world.peer.id)["rhythm_suggestion_answer"] == 1


def test_the_database_itself_removes_measure_rows_with_their_member(app, world):
    """The foreign keys, not only the code: whatever deletes a user row takes its measure rows with it."""
    member, facilitator = world.persona("member"), world.persona("facilitator")
    take(app, member, "PHQ-9", PHQ9, clock.now_utc())
    suggestion = suggest(app, world, facilitator)
    answer(app, member, suggestion, accepted=True)
    choose_rhythm(app, member)
    assert measure_rows(app, member.id) == dict.fromkeys(MEASURE_TABLES, 1)
    suggester = make_persona(app, "Sol S.")  # a user with nothing else hanging on them
    with app.app_context():
        db.session.get(RhythmSuggestion, suggestion).created_by_id = suggester.id
        db.session.commit()
        # Everything else about the member goes first, as account deletion does; then the user row alone.
        for table in ("rsvp", "attendance", "attendance_proof", "checkin", "checkin_own_tag", "membership",
                      "notification"):
            db.session.execute(sql(f"DELETE FROM {table} WHERE user_id = :id"), {"id": member.id})  # noqa: S608
        db.session.execute(sql('DELETE FROM "user" WHERE id IN (:a, :b)'), {"a": member.id, "b": suggester.id})
        db.session.commit()
        assert db.session.get(User, member.id) is None
        assert db.session.get(RhythmSuggestion, suggestion).created_by_id is None
    assert measure_rows(app, member.id) == dict.fromkeys(MEASURE_TABLES, 0)


# --- retention ---


def test_the_check_in_retention_period_takes_older_measure_responses_by_their_day(app, world):
    member = world.persona("member")
    with app.app_context():
        privacy.set_checkin_retention(member.user(), 3)
        db.session.commit()
    # Today is 26 November 2026 in London: three months keep 26 August onwards.
    gone = take(app, member, "PHQ-9", PHQ9, datetime(2026, 8, 25, 21, 0, tzinfo=ZoneInfo("UTC")))
    kept = take(app, member, "PHQ-9", PHQ9, datetime(2026, 8, 25, 23, 30, tzinfo=ZoneInfo("UTC")))  # 26 Aug, BST
    peers = take(app, world.peer, "PHQ-9", PHQ9, datetime(2026, 1, 5, 12, 0, tzinfo=ZoneInfo("UTC")))
    choose_rhythm(app, member)
    with app.app_context():
        report = privacy.purge(clock.now_utc(), app.config)
        db.session.commit()
        assert report.measure_responses == 1
        assert db.session.get(MeasureResponse, gone) is None
        assert db.session.get(MeasureResponse, kept) is not None
        assert db.session.get(MeasureResponse, peers) is not None  # the peer chose no period
    assert measure_rows(app, member.id)["measure_rhythm"] == 1


@pytest.mark.sqlite_only("greps SQLite's file and WAL")
def test_measure_answers_the_retention_pass_deletes_leave_no_ciphertext_behind(app, db_path, world):
    member = world.persona("member")
    take(app, member, "BAM", BAM, clock.now_utc())
    with app.app_context():
        member.user().checkin_retention_months = 3
        db.session.commit()
    ciphertexts = _ciphertexts(app)
    scheduler.retention_pass(app, clock.now_utc() + timedelta(days=100))
    assert measure_rows(app, member.id)["measure_response"] == 0
    assert [c for c in ciphertexts if c in _sqlite_bytes(db_path)] == []


# --- encryption at rest and key rotation ---


def test_the_answers_are_a_fernet_token_in_the_database(app, world):
    member = world.persona("member")
    take(app, member, "PHQ-9", PHQ9, clock.now_utc())
    with app.app_context():
        raw = db.session.execute(sql("SELECT answers FROM measure_response")).scalar_one()
        assert '"difficulty"' not in raw and "{" not in raw
        key = crypto.split_keys(app.config["DATA_KEY"])[0]
        assert json.loads(Fernet(key.encode()).decrypt(raw.encode())) == PHQ9
        assert json.loads(db.session.scalar(select(MeasureResponse.answers))) == PHQ9
        # The scores are plain numbers on purpose (trends and shared summaries read them without the key).
        assert db.session.scalar(select(MeasureResponse.scores)) == {"total": 11}


@pytest.mark.usefixtures("without_supportnet_environment")
def test_rotating_the_key_re_encrypts_measure_answers(db_path, smtp_server, frozen_clock):
    old, new = crypto.generate_key(), crypto.generate_key()
    first = make_app(db_path, smtp_server[0].port, DATA_KEY=old)
    mia = make_persona(first, "Mia M.")
    take(first, mia, "PHQ-9", PHQ9, clock.now_utc())
    take(first, mia, "BAM", BAM, clock.now_utc())
    with first.app_context():
        db.engine.dispose()

    both = make_app(db_path, smtp_server[0].port, DATA_KEY=f"{new}, {old}")
    result = both.test_cli_runner().invoke(args=["checkins", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 2 values" in result.output  # the two answers: nothing else is encrypted here
    with both.app_context():
        raws = db.session.execute(sql("SELECT answers FROM measure_response ORDER BY id")).scalars().all()
        assert [json.loads(Fernet(new.encode()).decrypt(raw.encode())) for raw in raws] == [PHQ9, BAM]
        db.engine.dispose()

    only_new = make_app(db_path, smtp_server[0].port, DATA_KEY=new)
    with only_new.app_context():
        assert db.session.scalar(select(func.count()).select_from(MeasureResponse)) == 2
        answers = db.session.scalars(select(MeasureResponse.answers).order_by(MeasureResponse.id)).all()
        assert [json.loads(a) for a in answers] == [PHQ9, BAM]
        db.engine.dispose()
    data = json.loads(export(signed_in(only_new, mia)).read("data.json"))
    assert [m["instrument"] for m in data["measures"]] == ["PHQ-9", "BAM"]
    with only_new.app_context():
        db.engine.dispose()


@pytest.mark.postgres_only("PostgreSQL's files, after the maintenance the README describes")
def test_after_vacuum_deleted_measure_answers_leave_no_bytes_in_postgresql_tables(app, world, request):
    server = request.getfixturevalue("postgres_server")
    if server.data_dir is None:
        pytest.skip("the PostgreSQL server was not started by this run: its files are not readable here")
    member = world.persona("member")
    take(app, member, "BAM", BAM, clock.now_utc())
    take(app, member, "PHQ-9", PHQ9, clock.now_utc())
    ciphertexts = _ciphertexts(app)
    assert post(signed_in(app, member), "/me/checkins/delete-all", {"confirm": "DELETE"}).status_code == 302
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sql("VACUUM FULL"))
        conn.execute(sql("CHECKPOINT"))
        files = conn.execute(sql(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 'i', 't') "
            "AND pg_relation_filepath(c.oid) IS NOT NULL")).scalars().all()
    data = b"".join(
        segment.read_bytes()
        for relative in files
        for segment in sorted(server.data_dir.glob(f"{relative}*"))
        if segment.name == Path(relative).name or segment.name.startswith(f"{Path(relative).name}.")
    )
    assert data, "no table files were read"
    assert [c for c in ciphertexts if c in data] == []
