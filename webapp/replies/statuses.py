"""Delivery statuses from WhatsApp: ticks only move forward, and a status that arrives before
its send is recorded is kept and applied when it is (Meta's webhook can outrun the send's own
answer)."""

from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update

from ..clients.whatsapp_errors import kind_for_code
from ..clients.whatsapp_webhook import StatusUpdate
from ..data import forgotten
from ..extensions import db, dialect_insert
from ..models import Message, PendingStatus, WhatsAppCharge, utcnow
from ..states import PartState

# Meta does not promise to deliver statuses in order: a late "delivered" never undoes "read".
RANK = {PartState.SENT: 1, PartState.DELIVERED: 2, PartState.READ: 3}
KEEP_PENDING = timedelta(days=1)  # statuses of messages sent from elsewhere never match


def apply_status(status: StatusUpdate) -> None:
    """Move a sent message's ticks forward; keep a status whose send is not recorded yet;
    record what Meta says it charges for the message. Runs in the caller's transaction."""
    fields = {}
    if status.status == "failed":
        fields = {
            "error_code": status.error_code,
            "error_kind": str(kind_for_code(status.error_code)),
            "error_detail": " — ".join(filter(None, [status.error_title, status.error_details])),
        }
    if not _apply(status.wa_message_id, status.status, fields):
        if forgotten.seen(status.wa_message_id):
            return  # a status of a message forgotten since: nothing of it is kept
        db.session.add(
            PendingStatus(wa_message_id=status.wa_message_id, status=status.status, **fields)
        )
    record_charge(status)


def _text(value, column) -> str | None:
    """A short word of Meta's as stored, or None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[: column.type.length]


def record_charge(status: StatusUpdate) -> bool:
    """Keep the `pricing` object of a status as the message's one WhatsAppCharge row: the first
    status carrying it wins, even when two deliveries arrive at once (the insert does nothing
    on a conflict). Pricing without a true/false `billable` is not Meta's shape: ignored."""
    pricing = status.raw.get("pricing") if isinstance(status.raw, dict) else None
    if not isinstance(pricing, dict) or not isinstance(pricing.get("billable"), bool):
        return False
    W = WhatsAppCharge.__table__.c
    values = {
        "wa_message_id": status.wa_message_id,
        "billable": pricing["billable"],
        "category": _text(pricing.get("category"), W.category),
        "pricing_model": _text(pricing.get("pricing_model"), W.pricing_model),
        "created_at": utcnow(),
    }
    insert = dialect_insert(WhatsAppCharge.__table__).values(**values)
    found = db.session.execute(insert.on_conflict_do_nothing(index_elements=[W.wa_message_id]))
    return bool(found.rowcount)


def _apply(wa_message_id: str, new: str, fields: dict) -> bool:
    """True when the message is known: the status applied, or it was already further on."""
    ours = (Message.wa_message_id == wa_message_id, Message.direction == "out")
    if new == "failed":
        where, values = ours, {"state": PartState.FAILED, **fields}
    elif new in RANK:
        lower = [state for state, rank in RANK.items() if rank < RANK[new]]
        where, values = (*ours, Message.state.in_(lower)), {"state": new}
    else:
        where = None  # a status Meta added later: nothing to move
    if where is not None:
        moved = db.session.execute(
            update(Message).where(*where).values(updated_at=utcnow(), **values)
        ).rowcount
        if moved:
            return True
    known = select(Message.id).where(Message.wa_message_id == wa_message_id)
    return db.session.scalar(known) is not None


P = PendingStatus.__table__.c
KEPT = select(P.id, P.wa_message_id, P.status, P.error_code, P.error_kind, P.error_detail)
KEPT_FOR = KEPT.where(P.wa_message_id == bindparam("wa_id")).order_by(P.id)
KEPT_MATCHING = KEPT.join(
    Message.__table__, Message.__table__.c.wa_message_id == P.wa_message_id
).order_by(P.id)


def apply_pending(wa_message_id: str | None = None) -> int:
    """Apply, in arrival order, the kept statuses whose send is recorded now (of one message,
    or all); in the caller's transaction."""
    if wa_message_id is None:
        pending = db.session.execute(KEPT_MATCHING).all()
    else:
        pending = db.session.execute(KEPT_FOR, {"wa_id": wa_message_id}).all()
    for kept in pending:
        fields = {}
        if kept.status == "failed":
            fields = {"error_code": kept.error_code, "error_kind": kept.error_kind,
                      "error_detail": kept.error_detail}  # fmt: skip
        _apply(kept.wa_message_id, kept.status, fields)
    if pending:
        db.session.execute(delete(PendingStatus.__table__).where(P.id.in_([k.id for k in pending])))
    return len(pending)


def drop_unmatched() -> int:
    """Forget kept statuses no send of ours claimed within a day (messages sent elsewhere)."""
    old = PendingStatus.created_at < utcnow() - KEEP_PENDING
    return db.session.execute(delete(PendingStatus).where(old)).rowcount
