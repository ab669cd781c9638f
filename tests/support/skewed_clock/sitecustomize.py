"""Put this folder on PYTHONPATH with CLOCK_SKEW_SECONDS set, and that Python process reads a
wall clock that many seconds off, as on a host whose clock is wrong. Its monotonic clock is
left alone: a wrong wall clock still ticks at the right rate.

`time.time` is wrapped, and `datetime.datetime` becomes a subclass whose `now` and `utcnow`
add the skew. The datetimes it makes are still plain datetimes, and any datetime counts as
an instance of the subclass, so Python code checking `isinstance(value, datetime)`
(SQLAlchemy's SQLite types) works as before. Compiled code built on datetime's C API (the
PostgreSQL driver's) takes the class once, when imported: it is imported first, and keeps
the real one.
"""

import datetime
import os
import time

SKEW = float(os.environ.get("CLOCK_SKEW_SECONDS") or 0)

if SKEW:
    import psycopg  # noqa: F401
    import sqlalchemy  # noqa: F401

    _time, _time_ns, _datetime = time.time, time.time_ns, datetime.datetime
    _shift = datetime.timedelta(seconds=SKEW)

    time.time = lambda: _time() + SKEW
    time.time_ns = lambda: _time_ns() + int(SKEW * 1_000_000_000)

    class _AnyDatetime(type):
        def __instancecheck__(cls, value) -> bool:
            return isinstance(value, _datetime)

        def __subclasscheck__(cls, subclass) -> bool:
            return issubclass(subclass, _datetime)

    class SkewedDatetime(_datetime, metaclass=_AnyDatetime):
        @classmethod
        def now(cls, tz=None):
            return _datetime.now(tz) + _shift

        @classmethod
        def utcnow(cls):
            return _datetime.now(datetime.UTC).replace(tzinfo=None) + _shift

        @classmethod
        def today(cls):
            return _datetime.now() + _shift

    SkewedDatetime.__module__, SkewedDatetime.__qualname__ = "datetime", "datetime"
    SkewedDatetime.__name__ = "datetime"
    datetime.datetime = SkewedDatetime
