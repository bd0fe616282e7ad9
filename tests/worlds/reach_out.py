"""The "reach out" world: Mia has two supporters who accepted (Sam and Ana), one she invited who has not answered
(Ivy) and one who stopped (Eve); Otto, another member, has his own supporter (Zed). Supporters are written
directly as rows, as the people pages would leave them (the address encrypted by the model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import Relation, Supporter, SupporterEnd
from supportnet.supporters import people
from tests.conftest import Persona, make_persona

SAM, ANA, IVY, EVE, ZED = (f"{name}@example.net" for name in ("sam", "ana", "ivy", "eve", "zed"))


@dataclass
class ReachWorld:
    mia: Persona
    otto: Persona
    sam: int
    ana: int
    ivy: int
    eve: int
    zed: int  # Otto's supporter


def add_supporter(user_id: int, name: str, email: str | None, *, accepted: bool = True,
                  ended: bool = False) -> int:
    """One supporter row of a member (call inside an app context; flushes)."""
    now = clock.now_utc()
    invited = now - timedelta(days=3)
    row = Supporter(user_id=user_id, name=name, email=None if ended else email, relation=Relation.FRIEND,
                    address_digest=people.address_digest(email or name),
                    invited_at=invited, accepted_at=invited + timedelta(hours=2) if accepted else None,
                    ended_at=now - timedelta(days=1) if ended else None,
                    end_reason=SupporterEnd.STOPPED if ended else None)
    db.session.add(row)
    db.session.flush()
    return row.id


def build_reach_world(app: Flask) -> ReachWorld:
    mia = make_persona(app, "Mia M.")
    otto = make_persona(app, "Otto O.")
    with app.app_context():
        ids = dict(
            sam=add_supporter(mia.id, "Sam", SAM),
            ana=add_supporter(mia.id, "Ana", ANA),
            ivy=add_supporter(mia.id, "Ivy", IVY, accepted=False),
            eve=add_supporter(mia.id, "Eve", EVE, ended=True),
            zed=add_supporter(otto.id, "Zed", ZED),
        )
        db.session.commit()
    return ReachWorld(mia=mia, otto=otto, **ids)
