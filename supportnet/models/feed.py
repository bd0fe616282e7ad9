"""Feed versions: one counter per group, per member and for everything, moved by every write a calendar feed shows."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from supportnet.db import Base


class FeedVersion(Base):
    """How many committed transactions changed what one scope's feeds show: a group ("g"), a member ("u"), or
    everything ("*", ref_id 0: a write that could not be traced to one group or member).

    No foreign key: a version outlives its group or member, so a reused number could never repeat an old key.
    """

    __tablename__ = "feed_version"
    __table_args__ = (
        CheckConstraint("kind in ('g', 'u', '*')", name="kind"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    ref_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=1)
