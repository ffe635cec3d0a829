"""A caller's session: one turn's words and voice joined (conversation.py), the turn's phases
(turn.py), and the voice session that starts, cuts and settles turns (voice.py)."""
