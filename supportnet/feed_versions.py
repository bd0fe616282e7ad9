"""Feed versions: a counter per group and per member that every committed write to what their calendar feeds show
moves, in the same transaction, so that a calendar app's poll is answered "not modified" from one indexed read.

A group's feed shows its group row, its series and its changed meetings; a member's private feed shows their own
row, their memberships, their answers, their one-to-one sessions (as member or coach, with the member's display
name) and the meetings of the groups they are an active member of. Its key is therefore the member's version and
the versions of those groups, plus the version of everything ("*").

Every write made through SQLAlchemy is seen:

* ORM changes are read from the session at every flush (`after_flush`: new, changed and deleted rows; a new group,
  user or coach is in no feed yet);
* every other INSERT, UPDATE or DELETE statement on those tables is seen once it has run (`after_execute` on every
  connection, and `do_orm_execute` for the ORM's bulk statements), and traced to its group or member from its
  parameters or a plain `WHERE id = ...` on its own table; one that cannot be traced, or that moves a row between
  feeds (a member's name, a series' group), moves "*", every feed's version; one that matched no row moves nothing;
* SQL text (`text(...)`, `exec_driver_sql`) is not read: code that writes one of those tables that way says what
  it touched (`touch`, with the TRACED option: the bulk materializing insert), and nothing else in the app does;
* rows a database cascade deletes with a parent (a user's or a coach's sessions, a group's series) are covered by
  the parent's deletion, which moves "*" or the group.

Other SQL text, and writes outside SQLAlchemy (psql, a driver cursor of one's own), are not seen: restart the app
after one. A migration's writes move nothing (migrations/env.py marks its connection); processes restart after
one anyway.

The counters move at COMMIT (the connection's commit event), after every other write of the transaction, in a
fixed order: a transaction never holds a version's row lock while it waits for another row, so the counters add
no deadlock on PostgreSQL. Only the seat counters of a meeting (`going_count`, `waitlist_count`) and a membership's
greeter flag change without moving anything: no feed shows them, and they change on every RSVP.

A poll reads the versions before any row it builds from (see supportnet/web/feeds.py), so a feed built while a
write commits is kept under the older version, never a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, ColumnClause

from supportnet.models import (
    Coach,
    CoachingSession,
    FeedVersion,
    Group,
    MeetingSeries,
    Membership,
    Occurrence,
    Rsvp,
    User,
)

GROUP, MEMBER, EVERYTHING = "g", "u", "*"
ALL = (EVERYTHING, 0)
# What a traced write concerns before it is resolved to a group or a member at commit.
_SERIES, _OCCURRENCE, _COACH = "series", "occurrence", "coach"
_PENDING = "supportnet_feed_scopes"

# Columns no feed shows, which change without moving a version (the seat counters move on every RSVP).
_UNSHOWN = {
    "occurrence": frozenset({"going_count", "waitlist_count"}),
    "membership": frozenset({"greets_newcomers"}),
}
# For each table a feed reads: which column of a row says whose feed it concerns, and as what.
_OWNER = {
    "group": (("id", GROUP),),
    "meeting_series": (("group_id", GROUP),),
    "occurrence": (("series_id", _SERIES),),
    "membership": (("user_id", MEMBER),),
    "rsvp": (("user_id", MEMBER),),
    "user": (("id", MEMBER),),
    "coaching_session": (("member_id", MEMBER), ("coach_id", _COACH)),
    "coach": (),
}
# A row's id, for tables whose rows are found by id in an UPDATE or DELETE: what the id stands for.
_BY_ID = {"group": GROUP, "user": MEMBER, "meeting_series": _SERIES, "occurrence": _OCCURRENCE}
# Deleting these can cascade into other people's feeds (a coach's sessions, a user's display name in a coach's
# feed, a group's memberships): their deletion moves every version.
_DELETION_MOVES_ALL = frozenset({"group", "user", "coach"})


# --- what a write concerns ----------------------------------------------------------------------------------


# The tables themselves (not their names): a migration's own table clauses, written before this table existed,
# are not the app's writes.
_TABLES = {model.__table__: model.__tablename__ for model in (Group, MeetingSeries, Occurrence, Membership, Rsvp,
                                                               User, CoachingSession, Coach)}
# Columns whose change takes a row from one feed into another or shows in other people's feeds (a member's name
# in their coach's feed): a plain UPDATE that sets one moves every version (the ORM path knows the old value).
_MOVES_OTHERS = {
    "user": frozenset({"display_name"}),
    "meeting_series": frozenset({"group_id"}),
    "occurrence": frozenset({"series_id"}),
    "membership": frozenset({"user_id", "group_id"}),
    "rsvp": frozenset({"user_id", "occurrence_id"}),
    "coaching_session": frozenset({"member_id", "coach_id"}),
}
# A new row of these can be in no feed built before it existed (ids are never reused).
_NEW_ROWS_CONCERN_NOBODY = frozenset({"group", "user", "coach"})


def _pending(connection: Connection) -> set[tuple[str, int]]:
    return connection.info.setdefault(_PENDING, set())


def _row_scopes(table: str, values: Mapping[str, Any]) -> set[tuple[str, int]]:
    """The scopes of one row from its column values; everything when a value that would say whose it is is missing."""
    scopes = set()
    for column, kind in _OWNER[table]:
        value = values.get(column)
        if not isinstance(value, int):
            return {ALL}
        scopes.add((kind, value))
    return scopes


def _object_scopes(obj: object, *, deleted: bool, new: bool = False) -> set[tuple[str, int]]:
    table = _TABLES.get(getattr(type(obj), "__table__", None))
    if table is None or (new and table in _NEW_ROWS_CONCERN_NOBODY):
        return set()
    if deleted and table in _DELETION_MOVES_ALL:
        return {ALL}
    if table == "user" and _changed(obj, "display_name"):
        return {ALL}  # shown in the private feeds of the coaches this member has sessions with
    values = {column: getattr(obj, column) for column, _ in _OWNER[table]}
    scopes = _row_scopes(table, values)
    if table == "meeting_series" and _changed(obj, "group_id"):
        scopes.add(ALL)
    return scopes


def _changed(obj: object, key: str) -> bool:
    state = inspect(obj)
    return key in state.attrs and state.attrs[key].history.has_changes()


def _only_unshown(obj: object) -> bool:
    """Whether a changed row changed only columns no feed shows."""
    unshown = _UNSHOWN.get(getattr(obj, "__tablename__", ""))
    if not unshown:
        return False
    state = inspect(obj)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    return bool(changed) and changed <= unshown


def _statement_scopes(statement: Any, parameters: Any) -> set[tuple[str, int]]:
    """The scopes of an INSERT, UPDATE or DELETE on a table a feed reads; everything when it cannot be traced."""
    table = _TABLES.get(getattr(statement, "table", None))
    if table is None:
        return set()
    rows = _parameter_rows(statement, parameters)
    if isinstance(statement, Insert):
        if table in _NEW_ROWS_CONCERN_NOBODY:
            return set()
        if not rows or getattr(statement, "select", None) is not None:
            return {ALL}
        scopes = set()
        for column, kind in _OWNER[table]:  # one set per column: materializing inserts thousands of rows at once
            values = {row.get(column) for row in rows}
            if not all(isinstance(value, int) for value in values):
                return {ALL}
            scopes |= {(kind, value) for value in values}
        return scopes
    if isinstance(statement, Update):
        columns = {str(getattr(key, "key", key)) for row in rows for key in row} or {"?"}
        if columns <= _UNSHOWN.get(table, frozenset()):
            return set()
        if columns & _MOVES_OTHERS.get(table, frozenset()):
            return {ALL}  # the row changes whose feed it is in, or shows in someone else's
    elif table in _DELETION_MOVES_ALL:
        return {ALL}
    traced = _traced(statement, table, rows)
    return traced if traced else {ALL}


def _parameter_rows(statement: Any, parameters: Any) -> list[Mapping[str, Any]]:
    if isinstance(parameters, Mapping):
        rows = [parameters] if parameters else []
    elif isinstance(parameters, (list, tuple)):
        rows = [row for row in parameters if isinstance(row, Mapping)]
    else:
        rows = []
    values = getattr(statement, "_values", None)
    if values:
        constants = {getattr(k, "key", k): (v.value if isinstance(v, BindParameter) else v) for k, v in values.items()}
        rows = [{**constants, **row} for row in rows] if rows else [constants]
    multi = getattr(statement, "_multi_values", None)
    if multi:
        return []  # a multi-row VALUES: not traced row by row
    return rows


def _traced(statement: Any, table: str, rows: list[Mapping[str, Any]]) -> set[tuple[str, int]]:
    """The scopes a `WHERE <owner column or id> = <value>` (or IN) names, or nothing when it says neither."""
    if len(_OWNER[table]) != 1 and table not in _BY_ID:
        return set()  # a session concerns its member and its coach: one WHERE term names only one of them
    kinds = dict(_OWNER[table])
    if table in _BY_ID:
        kinds["id"] = _BY_ID[table]
    for column, values in _where_equals(statement.whereclause, rows, statement.table):
        kind = kinds.get(column)
        if kind is not None and values and all(isinstance(v, int) for v in values):
            return {(kind, v) for v in values}
    return set()


def _where_equals(clause: Any, rows: list[Mapping[str, Any]], table: Any) -> Iterable[tuple[str, list[Any]]]:
    """The `column = value` and `column IN (values)` terms ANDed at the top of a WHERE clause."""
    terms = list(clause.clauses) if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_ \
        else [clause]
    for term in terms:
        if not isinstance(term, BinaryExpression) or not isinstance(term.left, ColumnClause):
            continue
        if getattr(term.left, "table", None) is not table:
            continue  # a condition on another table (a correlated subquery's, a join's) names none of these rows
        right = term.right
        if term.operator is operators.eq and isinstance(right, BindParameter):
            values = [row[right.key] for row in rows if right.key in row] or [right.value]
            yield term.left.name, values
        elif term.operator is operators.in_op and isinstance(right, BindParameter) and right.expanding:
            yield term.left.name, list(right.value or ())


# --- listening ----------------------------------------------------------------------------------------------


def _after_flush(session: Session, _context) -> None:
    scopes: set[tuple[str, int]] = set()
    for obj in session.new:
        scopes |= _object_scopes(obj, deleted=False, new=True)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False) and not _only_unshown(obj):
            scopes |= _object_scopes(obj, deleted=False)
    for obj in session.deleted:
        scopes |= _object_scopes(obj, deleted=True)
    if scopes:
        _pending(session.connection()).update(scopes)


def _nothing_written(statement: Any, result: Any) -> bool:
    """An UPDATE or DELETE that matched no row (the plan pass's purges, most of the time) moves nothing."""
    return isinstance(statement, (Update, Delete)) and getattr(result, "rowcount", -1) == 0


def _do_orm_execute(state) -> Any:
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    scopes = _statement_scopes(state.statement, state.parameters)
    if not scopes:
        return None
    result = state.invoke_statement()
    if not _nothing_written(state.statement, result):
        _pending(state.session.connection()).update(scopes)
    return result


def _after_execute(connection: Connection, clause, multiparams, params, execution_options, result) -> None:
    # After the statement (and the transaction it began): a pending scope recorded before an automatic BEGIN
    # would be cleared by it.
    if not isinstance(clause, (Insert, Update, Delete)) or connection.info.get(MIGRATING):
        return
    if "compiled_cache" in execution_options:
        return  # the ORM's own statements: `_after_flush` sees its flushes, `_do_orm_execute` its bulk statements
    if _nothing_written(clause, result):
        return
    scopes = _statement_scopes(clause, multiparams if multiparams else params)
    if scopes:
        _pending(connection).update(scopes)


# Code that writes feed tables as SQL text says what it touched with `touch` and runs it with the TRACED option
# (the bulk materializing insert does).
TRACED = "supportnet_feed_traced"
MIGRATING = "supportnet_migrating"  # set by migrations/env.py: a migration's writes are not the app's


def touch(connection: Connection, scopes: Iterable[tuple[str, int]]) -> None:
    """Record what a write the listeners cannot trace concerns (series ids as ("series", id), groups, members)."""
    _pending(connection).update(scopes)


SERIES = _SERIES


def _forget(connection: Connection, *_args) -> None:
    connection.info.pop(_PENDING, None)


def _on_commit(connection: Connection) -> None:
    scopes = connection.info.pop(_PENDING, None)
    if scopes and not connection.info.get(MIGRATING):
        bump(connection, scopes)


def bump(connection: Connection, scopes: Iterable[tuple[str, int]]) -> None:
    """Move the versions of these scopes by one, in a fixed order (groups and members of a meeting, series or coach
    are looked up first); a scope that no longer exists moves everything."""
    resolved = _resolve(connection, set(scopes))
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(FeedVersion).on_conflict_do_update(
        index_elements=["kind", "ref_id"], set_={"version": FeedVersion.version + 1}
    )
    connection.execute(statement, [{"kind": k, "ref_id": r, "version": 1} for k, r in sorted(resolved)])


def _resolve(connection: Connection, scopes: set[tuple[str, int]]) -> set[tuple[str, int]]:
    final = {scope for scope in scopes if scope[0] in (GROUP, MEMBER, EVERYTHING)}
    lookups = (
        (_SERIES, select(MeetingSeries.id, MeetingSeries.group_id), MeetingSeries.id, GROUP),
        (_OCCURRENCE, select(Occurrence.id, MeetingSeries.group_id).join(Occurrence.series), Occurrence.id, GROUP),
        (_COACH, select(Coach.id, Coach.user_id), Coach.id, MEMBER),
    )
    for kind, query, key, owner in lookups:
        ids = sorted(ref for k, ref in scopes if k == kind)
        if not ids:
            continue
        found = dict(connection.execute(query.where(key.in_(ids))).all())
        final |= {(owner, found[i]) for i in ids if i in found}
        if len(found) < len(ids):
            final.add(ALL)  # deleted meanwhile: whose feed it was is no longer known
    return final


def install() -> None:
    """Listen to every session and connection (idempotent): the counters move with every write from now on."""
    for target, name, listener in (
        (Session, "after_flush", _after_flush),
        (Session, "do_orm_execute", _do_orm_execute),
        (Engine, "after_execute", _after_execute),
        (Engine, "begin", _forget),
        (Engine, "rollback", _forget),
        (Engine, "commit", _on_commit),
    ):
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)


# --- reading ------------------------------------------------------------------------------------------------


# Built once: a poll only binds its ids (building the SELECT each time cost a fifth of a 304).
_VERSIONS = select(FeedVersion.kind, FeedVersion.ref_id, FeedVersion.version)
_GROUP_KEY = _VERSIONS.where(
    ((FeedVersion.kind == GROUP) & (FeedVersion.ref_id == bindparam("group_id")))
    | ((FeedVersion.kind == EVERYTHING) & (FeedVersion.ref_id == 0))
)


def group_key(group_id: int) -> tuple[Any, dict[str, int]]:
    """The SELECT of the versions a group's feed depends on (its own and everything's) and its parameters, to run
    before any of its rows."""
    return _GROUP_KEY, {"group_id": group_id}


def member_key(user_id: int, group_ids: Any) -> Any:
    """A SELECT of the versions a member's private feed depends on: theirs, their groups' (`group_ids`: a
    subquery of the groups they are an active member of) and everything's."""
    return _VERSIONS.where(
        ((FeedVersion.kind == MEMBER) & (FeedVersion.ref_id == user_id))
        | ((FeedVersion.kind == GROUP) & FeedVersion.ref_id.in_(group_ids))
        | ((FeedVersion.kind == EVERYTHING) & (FeedVersion.ref_id == 0))
    )


__all__ = [
    "ALL",
    "EVERYTHING",
    "GROUP",
    "MEMBER",
    "MIGRATING",
    "SERIES",
    "TRACED",
    "bump",
    "group_key",
    "install",
    "member_key",
    "touch",
]
