"""Back up now: the archive the `backup` command writes, downloaded from the dashboard."""

import shutil
import tempfile
from datetime import date
from pathlib import Path

from flask import abort, current_app, flash, redirect, send_file, url_for

from .. import state
from ..data import backups
from . import bp
from .forms import ActionForm


@bp.post("/backup")
def backup_now():
    if not ActionForm().validate_on_submit():
        abort(400)
    name = f"switchboard-{date.today().isoformat()}{backups.SUFFIX}"
    # In the instance folder: on the same disk as the database, and as private as it.
    work = Path(tempfile.mkdtemp(dir=current_app.instance_path, prefix=".backup-download-"))
    try:
        outcome = backups.write(work / name)
        archive = outcome.path.open("rb")
    except backups.BackupRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.dashboard"))
    finally:
        # The open file stays readable while it is sent; nothing is left behind on the disk.
        shutil.rmtree(work, ignore_errors=True)
    state.put(backups.LAST_BACKUP, {"path": name, "downloaded": True})
    return send_file(
        archive, mimetype="application/gzip", as_attachment=True, download_name=name, max_age=0
    )
