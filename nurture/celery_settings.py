"""Celery settings for workers and beat, derived from NURTURE_* settings (see celeryconfig).

The broker only carries work that is due now; every future email waits as a database row,
so nothing here schedules ETA or countdown tasks.
"""

from nurture.core.config import get_settings
from nurture.core.private_files import private_dir

_settings = get_settings()

broker_url = _settings.resolved_broker_url
broker_connection_retry_on_startup = True
broker_connection_timeout = 5
task_ignore_result = True
task_serializer = "json"
accept_content = ["json"]
# A task is acknowledged after it ran, so a worker killed mid-task leaves it for another;
# the outbox row's claim and lease make that second run safe.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_hijack_root_logger = False
timezone = "UTC"
enable_utc = True
beat_schedule_filename = str((_settings.data_dir / "celerybeat-schedule").resolve())
beat_schedule = {
    "tick": {"task": "nurture.tick", "schedule": _settings.tick_seconds},
    "purge-unconfirmed": {"task": "nurture.purge_unconfirmed", "schedule": 6 * 3600},
}

if broker_url.startswith("filesystem"):
    # kombu's filesystem transport: queues are folders, so the embedded default needs no server.
    _folder = _settings.broker_folder
    for _sub in ("queue", "processed"):
        private_dir(_folder / _sub)
    # Same transport, but a message file appears only once written (see nurture.core.broker_files).
    broker_transport = "nurture.core.broker_files:Transport"
    private_dir(_folder / "control")
    broker_transport_options = {
        "control_folder": str(_folder / "control"),  # kombu's default is ./control in the cwd
        "data_folder_in": str(_folder / "queue"),
        "data_folder_out": str(_folder / "queue"),
        "processed_folder": str(_folder / "processed"),
        "store_processed": False,
        "polling_interval": 0.5,
    }
    # The filesystem transport has no fan-out exchange for remote control and events.
    worker_enable_remote_control = False
    worker_send_task_events = False
else:
    broker_transport_options = {"visibility_timeout": 3600}
