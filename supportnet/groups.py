"""Groups: starting, editing and archiving them, their tags and their addresses (slugs).

Functions here change models and flush; the caller (a view or a command) commits. Who is in a group (joining,
leaving, invites, roles) is memberships.py; who may see or manage one is visibility.py.

Decisions worth knowing:

* A group's details arrive as a `GroupSpec`, checked and tidied once by `clean_spec`, whether from the web form,
  a command or the demo data; an edit is checked whole before anything changes.
* Private groups cannot be open: their existence is only shown to members and to holders of an invite link.
* Archived groups are hidden from the directory and from outsiders; their active members, facilitators and
  site admins still see them by direct link (the history stays theirs). Archiving ends every meeting series
  and writes the audit entry (pass the acting person as `by`).
* Tags: Meeting Guide type codes are stored exactly as the spec spells them ("O", "LGBTQ", "12x12");
  free tags are stored lower-cased. A code typed in upper case that the spec does not know is refused,
  so typos like "LGTBQ" don't become tags. Typing a type's label ("Women") stores its code ("W").
* A group going private (for everyone who is not an active member) and archiving end everything the
  membership gave in the same transaction: future RSVPs (the waitlist moves up), standing RSVPs, pending
  notices, in-app items with the group's details, check-in sharing, private feed entries.
  derived_access.DEPENDENTS lists them; past answers and attendance stay.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from supportnet import audit, derived_access, scheduling, timetable
from supportnet.clock import timezone_names
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    Group,
    GroupKind,
    GroupTag,
    JoinPolicy,
    MemberRole,
    Membership,
    MemberStatus,
    NotificationKind,
    User,
    Visibility,
)
from supportnet.textsafety import has_invisible

# Meeting Guide API meeting types (code4recovery spec), code -> label.
MEETING_GUIDE_TYPES: dict[str, str] = {
    "11": "11th Step Meditation",
    "12x12": "12 Steps & 12 Traditions",
    "A": "Secular",
    "ABSI": "As Bill Sees It",
    "AL": "Concurrent with Alateen",
    "AL-AN": "Concurrent with Al-Anon",
    "ASL": "American Sign Language",
    "B": "Big Book",
    "BA": "Babysitting Available",
    "BE": "Newcomer",
    "BI": "Bisexual",
    "BRK": "Breakfast",
    "C": "Closed",
    "CAN": "Candlelight",
    "CF": "Child-Friendly",
    "D": "Discussion",
    "DB": "Digital Basket",
    "DD": "Dual Diagnosis",
    "DR": "Daily Reflections",
    "EN": "English",
    "FF": "Fragrance Free",
    "FR": "French",
    "G": "Gay",
    "GR": "Grapevine",
    "H": "Birthday",
    "HE": "Hebrew",
    "ITA": "Italian",
    "JA": "Japanese",
    "KOR": "Korean",
    "L": "Lesbian",
    "LGBTQ": "LGBTQ",
    "LIT": "Literature",
    "LS": "Living Sober",
    "M": "Men",
    "MED": "Meditation",
    "N": "Native American",
    "NDG": "Indigenous",
    "O": "Open",
    "OUT": "Outdoor",
    "P": "Professionals",
    "POC": "People of Color",
    "POL": "Polish",
    "POR": "Portuguese",
    "PUN": "Punjabi",
    "RUS": "Russian",
    "S": "Spanish",
    "SEN": "Seniors",
    "SM": "Smoking Permitted",
    "SP": "Speaker",
    "SPD": "Speaker/Discussion",
    "ST": "Step Study",
    "T": "Transgender",
    "TC": "Location Temporarily Closed",
    "TR": "Tradition Study",
    "W": "Women",
    "X": "Wheelchair Access",
    "XB": "Wheelchair-Accessible Bathroom",
    "XT": "Cross Talk Permitted",
    "Y": "Young People",
}
_CODE_BY_LABEL = {label.casefold(): code for code, label in MEETING_GUIDE_TYPES.items()}

MAX_TAGS = 20
MAX_TAG_LENGTH = 40
SLUG_RE = re.compile(r"^[a-z0-9-]{2,80}$")
# Words a group URL must not take, because they are (or may become) pages under /groups/.
RESERVED_SLUGS = frozenset({"new", "create", "edit", "search", "mine", "join", "invite", "directory", "calendar"})
_LOOKS_LIKE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,5}$")


def is_spec_code(code: str) -> bool:
    """Return whether a stored tag is a Meeting Guide type code (otherwise it is a free tag)."""
    return code in MEETING_GUIDE_TYPES


def tag_label(code: str) -> str:
    """The words to show for a tag: the Meeting Guide label for a code, the tag itself otherwise."""
    return MEETING_GUIDE_TYPES.get(code, code)


def clean_tag(raw: str) -> str:
    """Return a tag in its stored form (spec code, or lower-case free tag) or raise DomainError."""
    tag = " ".join(unicodedata.normalize("NFC", raw).split())
    if tag in MEETING_GUIDE_TYPES:
        return tag
    if tag.casefold() in _CODE_BY_LABEL:
        return _CODE_BY_LABEL[tag.casefold()]
    if _LOOKS_LIKE_CODE.match(tag) and any(ch.isalpha() for ch in tag):
        raise DomainError(
            f"\u201c{tag}\u201d is not a Meeting Guide meeting type. To use it as your own tag, type it in lower case.",
            field="tags",
        )
    tag = tag.lower()
    if len(tag) > MAX_TAG_LENGTH:
        raise DomainError(f"Keep each tag to {MAX_TAG_LENGTH} characters.", field="tags")
    if not tag.strip("- ") or not all(ch.isalnum() or ch in " -" for ch in tag):
        raise DomainError("Tags can use letters, digits, spaces and hyphens.", field="tags")
    return tag


def clean_tags(raw: Iterable[str]) -> list[str]:
    """Return the tags in stored form, without blanks or duplicates, in the order given."""
    tags: list[str] = []
    for item in raw:
        if not item.strip():
            continue
        tag = clean_tag(item)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise DomainError(f"Use at most {MAX_TAGS} tags.", field="tags")
    return tags


def slugify(name: str) -> str:
    """Turn a group name into a URL slug ("Thursday Integration Circle" -> "thursday-integration-circle")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80].strip("-")
    return slug if len(slug) >= 2 else "group"


def unique_slug(name: str) -> str:
    """Return a slug for the name that no group uses yet (adding -2, -3 ... when needed)."""
    base = slugify(name)
    if base in RESERVED_SLUGS:
        base = f"{base}-group"
    # The prefix is short enough to also find the candidates below, which cut a long base to fit a suffix.
    prefix = base[:70]
    taken = set(db.session.scalars(select(Group.slug).where(Group.slug.startswith(prefix, autoescape=True))))
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: 80 - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def check_slug(slug: str, group: Group | None = None) -> str:
    """Return the slug if it is well formed and free (for this group), else raise DomainError."""
    slug = slug.strip()
    if not SLUG_RE.match(slug) or slug.strip("-") != slug:
        raise DomainError(
            "Use 2 to 80 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
            field="slug",
        )
    if slug in RESERVED_SLUGS:
        raise DomainError("That address is reserved; choose another.", field="slug")
    query = select(Group.id).where(Group.slug == slug)
    if group is not None and group.id is not None:
        query = query.where(Group.id != group.id)
    if db.session.scalar(query) is not None:
        raise DomainError("Another group already uses that address.", field="slug")
    return slug


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise DomainError("Give the group a name.", field="name")
    if has_invisible(name):
        raise DomainError("Remove the invisible or direction-changing characters.", field="name")
    if len(name) > 120:
        raise DomainError("Keep the name to 120 characters.", field="name")
    return name


def _clean_text(value: str, field: str, limit: int | None = None) -> str:
    value = value.strip()
    if limit is not None and len(value) > limit:
        raise DomainError(f"Keep this to {limit} characters.", field=field)
    if has_invisible(value):
        raise DomainError("Remove the invisible or direction-changing characters.", field=field)
    return value


def _check_timezone(name: str) -> str:
    if name not in timezone_names():
        raise DomainError("Choose a timezone from the list.", field="timezone")
    return name


def _coerce(enum_cls, value, field: str):
    try:
        return enum_cls(value)
    except ValueError as exc:
        raise DomainError("Choose one of the options.", field=field) from exc


def _check_policy(visibility: Visibility, join_policy: JoinPolicy) -> None:
    if visibility == Visibility.PRIVATE and join_policy == JoinPolicy.OPEN:
        raise DomainError(
            "A private group can't be open to everyone: choose approval or invite only.", field="join_policy"
        )


def _set_tags(group: Group, tags: list[str]) -> None:
    # Keep the rows of tags that stay: deleting and re-adding the same code in one flush would hit the
    # unique key, because the unit of work inserts before it deletes.
    wanted = set(tags)
    for tag in list(group.tags):
        if tag.code not in wanted:
            group.tags.remove(tag)
    have = {tag.code for tag in group.tags}
    group.tags.extend(GroupTag(code=code) for code in tags if code not in have)


@dataclass(frozen=True)
class GroupSpec:
    """A group's details as a facilitator fills them in; `clean_spec` checks and tidies them once.

    `slug` None: a new group gets one made from its name, an edited group keeps its own.
    """

    name: str
    kind: GroupKind | str
    timezone: str
    description: str = ""
    visibility: Visibility | str = Visibility.PUBLIC
    join_policy: JoinPolicy | str = JoinPolicy.OPEN
    venue: str = ""
    address: str = ""
    contact_note: str = ""
    tags: tuple[str, ...] = ()
    slug: str | None = None
    calendar_shows_cancellations: bool = False


# The spec's fields a group stores as they are (the slug and the tags have rules of their own).
_DETAILS = ("name", "description", "kind", "visibility", "join_policy", "timezone", "venue", "address",
            "contact_note", "calendar_shows_cancellations")


def clean_spec(spec: GroupSpec) -> GroupSpec:
    """Return the spec tidied up (enums, stored tag forms), or raise DomainError naming the field to fix."""
    name = _clean_name(spec.name)
    kind = _coerce(GroupKind, spec.kind, "kind")
    visibility = _coerce(Visibility, spec.visibility, "visibility")
    join_policy = _coerce(JoinPolicy, spec.join_policy, "join_policy")
    _check_policy(visibility, join_policy)
    return dataclasses.replace(
        spec,
        name=name,
        kind=kind,
        visibility=visibility,
        join_policy=join_policy,
        description=_clean_text(spec.description, "description"),
        timezone=_check_timezone(spec.timezone),
        venue=_clean_text(spec.venue, "venue", 200),
        address=_clean_text(spec.address, "address", 300),
        contact_note=_clean_text(spec.contact_note, "contact_note"),
        tags=tuple(clean_tags(spec.tags)),
        slug=spec.slug or None,
        calendar_shows_cancellations=bool(spec.calendar_shows_cancellations),
    )


def spec_for(group: Group) -> GroupSpec:
    """The group's current details as a spec (what an edit starts from)."""
    return GroupSpec(
        name=group.name,
        kind=group.kind,
        timezone=group.timezone,
        description=group.description,
        visibility=group.visibility,
        join_policy=group.join_policy,
        venue=group.venue,
        address=group.address,
        contact_note=group.contact_note,
        tags=tuple(tag.code for tag in group.tags),
        slug=group.slug,
        calendar_shows_cancellations=group.calendar_shows_cancellations,
    )


def create_group(creator: User, spec: GroupSpec | None = None, *, now: datetime, **fields) -> Group:
    """Start a new group from a spec (or the spec's fields as keywords); its creator becomes its first facilitator."""
    if not creator.is_facilitator:
        raise Forbidden("Only facilitators can start groups.")
    spec = clean_spec(spec if spec is not None else GroupSpec(**fields))
    group = Group(
        slug=check_slug(spec.slug) if spec.slug else unique_slug(spec.name),
        **{key: getattr(spec, key) for key in _DETAILS},
        created_at=now,
        updated_at=now,
    )
    _set_tags(group, list(spec.tags))
    group.memberships.append(
        Membership(user=creator, role=MemberRole.FACILITATOR, status=MemberStatus.ACTIVE, created_at=now, joined_at=now)
    )
    db.session.add(group)
    db.session.flush()
    return group


def _require_not_archived(group: Group) -> None:
    if group.archived_at is not None:
        raise DomainError("This group is archived.")


def update_group(group: Group, spec: GroupSpec | None = None, *, now: datetime, **fields) -> Group:
    """Change a group's details to the spec; or, with keywords, only those fields (None leaves a field as it is)."""
    _require_not_archived(group)
    if spec is None:
        given = {key: value for key, value in fields.items() if value is not None}
        spec = dataclasses.replace(spec_for(group), **given)
    # Check everything before changing anything, so a refused edit leaves the group untouched.
    spec = clean_spec(spec)
    slug = group.slug if spec.slug is None or spec.slug == group.slug else check_slug(spec.slug, group)
    goes_private = spec.visibility == Visibility.PRIVATE and group.visibility != Visibility.PRIVATE
    display_changed = spec.calendar_shows_cancellations != group.calendar_shows_cancellations
    group.slug = slug
    for key in _DETAILS:
        setattr(group, key, getattr(spec, key))
    _set_tags(group, list(spec.tags))
    if display_changed:
        scheduling.calendar_display_changed(group, now)
    group.updated_at = now
    db.session.flush()
    if goes_private:
        # What the group being visible let outsiders hold (answers, notices) ends with its visibility.
        derived_access.end_access(group, derived_access.people_without_membership(group), now)
    return group


def archive_group(group: Group, now: datetime, *, by: User | None = None) -> None:
    """Archive a group: it leaves the directory, its meetings end, its invite link dies; history stays.

    `by`: the facilitator or admin who archives it, for the audit log (one entry for the group and its series).
    """
    if group.archived_at is not None:
        return
    for series in timetable.active_series(group):
        scheduling.end_series(series, now, audited=False)
    group.archived_at = now
    group.invite_token_hash = None
    group.invite_expires_at = None
    group.updated_at = now
    db.session.flush()
    audit.record(AuditAction.GROUP_ARCHIVED, actor=by, now=now, group=group)
    # Nothing runs on in an archived group. The notices that its series ended (just written) still go out.
    people = set(derived_access.everyone_in(group)) | set(derived_access.people_without_membership(group))
    derived_access.end_access(group, people, now, keep_kinds=[NotificationKind.CHANGE])
