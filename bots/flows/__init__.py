"""Pure bot flows: ``(state, event, now) -> Outcome`` over pydantic models, no DB."""
