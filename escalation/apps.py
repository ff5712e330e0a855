from django.apps import AppConfig

from escalation.schemas import FlagSignal
from escalation.sensor_rules import SensorReading
from rooms.payloads import register_signal


class EscalationConfig(AppConfig):
    name = "escalation"

    def ready(self) -> None:
        # The detector reads these signals: their data is checked when written
        # (rooms.payloads), so a malformed one is refused instead of skipped later.
        register_signal("flag", FlagSignal)
        register_signal("sensor", SensorReading)
